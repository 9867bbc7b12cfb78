/* hello: the handshake's contents: the token to send with auth, the params
 * of hello, and the check of its answer (protocol version, admin). */
#ifndef PYRPOOL_CLIENT_HELLO_H
#define PYRPOOL_CLIENT_HELLO_H

#include <stdbool.h>

#include "client.h"
#include "protocol.h"

/* The token from opts (token, else token_file's first line), in *token (to
 * free(); NULL for none). Returns 0 or PYRPOOL_ERR_USAGE (unreadable file,
 * err says why). */
int hello_token(const pyrpool_options *opts, char **token, pyrpool_error *err);

/* Packs hello's params: [client_name, client_version, {"errors": "map"}].
 * Returns 0 or -1 (the packer's writer failed). */
int hello_pack_params(msgpack_packer *pk, const pyrpool_options *opts);

/* Checks hello's answer: a map whose "protocol" is PYRPOOL_PROTOCOL and
 * whose errors are maps. Sets *admin from "admin". Returns 0 or
 * PYRPOOL_ERR_PROTOCOL with err saying what is wrong. */
int hello_check(const msgpack_object *answer, bool *admin, pyrpool_error *err);

#endif
