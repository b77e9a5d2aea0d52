#include "app/commands.h"
#include <stdio.h>
int ls_cmd_scan(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "scan: not built yet\n"); return 1; }
int ls_cmd_demo_library(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "demo-library: not built yet\n"); return 1; }
