# ls_embed(INPUT SYMBOL OUTPUT): turns a file into `const unsigned char SYMBOL[]`
# and `const size_t SYMBOL_len`, regenerated whenever the input changes.
function(ls_embed input symbol output)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DINPUT=${input} -DSYMBOL=${symbol} -DOUTPUT=${output}
            -P ${CMAKE_SOURCE_DIR}/cmake/embed_file.cmake
    DEPENDS ${input} ${CMAKE_SOURCE_DIR}/cmake/embed_file.cmake
    COMMENT "Embedding ${input}")
endfunction()
