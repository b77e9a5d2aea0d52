/* The party-key proof carried in hello and hello_ack. */
#include "lanspread/proto.h"

#include <nettle/hmac.h>
#include <string.h>

static void update_text(struct hmac_sha256_ctx *ctx, const char *text)
{
    hmac_sha256_update(ctx, strlen(text), (const uint8_t *)text);
}

void ls_party_proof(const char *key, const char *sender_id, const char *receiver_id,
                    char out[LS_SHA256_HEX_LEN + 1])
{
    struct hmac_sha256_ctx ctx;
    uint8_t mac[SHA256_DIGEST_SIZE];
    hmac_sha256_set_key(&ctx, strlen(key), (const uint8_t *)key);
    update_text(&ctx, LS_ALPN "|");
    update_text(&ctx, sender_id);
    update_text(&ctx, "|");
    update_text(&ctx, receiver_id);
    hmac_sha256_digest(&ctx, sizeof mac, mac);
    ls_hex_encode(mac, sizeof mac, out);
}
