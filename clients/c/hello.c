/* hello: what the client says and checks right after connecting. Error
 * answers are asked for as maps ("errors": "map") even when the listener is
 * set to another shape, because the whole library reads maps (it also
 * understands the other shapes, in case a daemon ignores the option). */
#include "hello.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "protocol.h"

int hello_token(const pyrpool_options *opts, char **token, pyrpool_error *err)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    FILE *f;

    *token = NULL;
    if (opts->token != NULL) {
        *token = strdup(opts->token);
        return *token != NULL ? 0 : errors_set(err, PYRPOOL_ERR_NOMEM, ENOMEM, "out of memory");
    }
    if (opts->token_file == NULL)
        return 0;
    f = fopen(opts->token_file, "re");
    if (f == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, errno, "cannot read the token file %s: %s", opts->token_file,
                          strerror(errno));
    n = getline(&line, &cap, f);
    fclose(f);
    if (n < 0) {
        free(line);
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "the token file %s is empty", opts->token_file);
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    *token = line;
    return 0;
}

int hello_pack_params(msgpack_packer *pk, const pyrpool_options *opts)
{
    const char *name = opts->client_name != NULL ? opts->client_name : "libpyrpool";
    const char *version = opts->client_version != NULL ? opts->client_version : PYRPOOL_CLIENT_VERSION;

    return pyrpool_pack(pk, "[s s {s:s}]", name, version, "errors", ERRORS_MAP_NAME) == 0 ? 0 : -1;
}

int hello_check(const msgpack_object *answer, bool *admin, pyrpool_error *err)
{
    const msgpack_object *errors, *adm;
    int64_t protocol;

    if (answer->type != MSGPACK_OBJECT_MAP)
        return errors_set(err, PYRPOOL_ERR_PROTOCOL, 0, "hello: the daemon's answer is not a map");
    if (!pyrpool_obj_int(pyrpool_obj_get(answer, "protocol"), &protocol))
        return errors_set(err, PYRPOOL_ERR_PROTOCOL, 0, "hello: the daemon's answer has no protocol version");
    if (protocol != PYRPOOL_PROTOCOL)
        return errors_set(err, PYRPOOL_ERR_PROTOCOL, 0, "hello: the daemon speaks protocol %lld; this client "
                          "(libpyrpool %s) knows protocol %d only", (long long)protocol, PYRPOOL_CLIENT_VERSION,
                          PYRPOOL_PROTOCOL);
    errors = pyrpool_obj_get(answer, "errors");
    if (errors != NULL && !pyrpool_obj_is(errors, ERRORS_MAP_NAME))
        return errors_set(err, PYRPOOL_ERR_PROTOCOL, 0, "hello: the daemon did not switch error answers to maps");
    adm = pyrpool_obj_get(answer, "admin");
    *admin = adm != NULL && adm->type == MSGPACK_OBJECT_BOOLEAN && adm->via.boolean;
    return 0;
}
