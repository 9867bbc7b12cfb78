/* address: the daemon pyrpoolctl talks to. See address.h. */
#include "address.h"

#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

/* "PATH" -> "unix:PATH"; "unix:..." and "tcp:..." as they are. */
static void normalize(const char *in, char *out, size_t len)
{
    if (strncmp(in, "unix:", 5) == 0 || strncmp(in, "tcp:", 4) == 0)
        snprintf(out, len, "%s", in);
    else
        snprintf(out, len, "unix:%s", in);
}

/* p as the config's folder sees it (cut to len: paths that long do not
 * work as sockets anyway). */
static void from_dir(const char *dir, const char *p, char *out, size_t len)
{
    int n = p[0] == '/' ? snprintf(out, len, "%s", p) : snprintf(out, len, "%s/%s", dir, p);

    if (n < 0 || (size_t)n >= len)
        out[len - 1] = '\0';
}

static const char *scalar(yaml_document_t *doc, int id)
{
    yaml_node_t *n = yaml_document_get_node(doc, id);

    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The first listener of config's listen: list with admin methods. */
static int from_config(const char *config, struct target *t, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root, *listen = NULL, *l;
    yaml_node_pair_t *p;
    yaml_node_item_t *it;
    char dir[4096];
    FILE *f = fopen(config, "r");
    int rc = -1;

    if (f == NULL) {
        snprintf(err, errlen, "cannot read %s: %m", config);
        return -1;
    }
    {
        char copy[4096];

        snprintf(copy, sizeof copy, "%s", config);
        snprintf(dir, sizeof dir, "%s", dirname(copy)); /* dirname writes into its argument */
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%zu:%zu: not YAML: %s", config, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "unreadable");
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    root = yaml_document_get_root_node(&doc);
    for (p = root != NULL && root->type == YAML_MAPPING_NODE ? root->data.mapping.pairs.start : NULL;
         p != NULL && p < root->data.mapping.pairs.top; p++)
        if (scalar(&doc, p->key) != NULL && strcmp(scalar(&doc, p->key), "listen") == 0)
            listen = yaml_document_get_node(&doc, p->value);
    snprintf(err, errlen, "%s has no listener with admin methods (listen: ... admin: true)", config);
    for (it = listen != NULL && listen->type == YAML_SEQUENCE_NODE ? listen->data.sequence.items.start : NULL;
         it != NULL && it < listen->data.sequence.items.top && rc != 0; it++) {
        const char *kind = NULL, *where = NULL, *admin = NULL, *token = NULL, *k;
        char path[4096];

        l = yaml_document_get_node(&doc, *it);
        if (l == NULL || l->type != YAML_MAPPING_NODE)
            continue;
        for (p = l->data.mapping.pairs.start; p < l->data.mapping.pairs.top; p++) {
            if ((k = scalar(&doc, p->key)) == NULL)
                continue;
            if (strcmp(k, "unix") == 0 || strcmp(k, "tcp") == 0) {
                kind = k;
                where = scalar(&doc, p->value);
            } else if (strcmp(k, "admin") == 0) {
                admin = scalar(&doc, p->value);
            } else if (strcmp(k, "token_file") == 0) {
                token = scalar(&doc, p->value);
            }
        }
        if (kind == NULL || where == NULL)
            continue;
        if (admin != NULL ? strcmp(admin, "true") != 0 : strcmp(kind, "unix") != 0)
            continue;
        if (strcmp(kind, "unix") == 0) {
            from_dir(dir, where, path, sizeof path);
            snprintf(t->address, sizeof t->address, "unix:%s", path);
        } else {
            snprintf(t->address, sizeof t->address, "tcp:%s", where);
            if (token != NULL && t->token_file[0] == '\0')
                from_dir(dir, token, t->token_file, sizeof t->token_file);
        }
        snprintf(t->from, sizeof t->from, "the first admin listener of %s", config);
        rc = 0;
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

int address_resolve(const char *socket, const char *config, const char *token_file, struct target *t,
                    char *err, size_t errlen)
{
    const char *env = getenv("PYRPOOL_SOCKET"), *env_token = getenv("PYRPOOL_TOKEN_FILE");

    memset(t, 0, sizeof *t);
    if (token_file != NULL)
        snprintf(t->token_file, sizeof t->token_file, "%s", token_file);
    else if (env_token != NULL && env_token[0] != '\0')
        snprintf(t->token_file, sizeof t->token_file, "%s", env_token);
    if (socket != NULL) {
        normalize(socket, t->address, sizeof t->address);
        snprintf(t->from, sizeof t->from, "--socket");
        return 0;
    }
    if (env != NULL && env[0] != '\0') {
        normalize(env, t->address, sizeof t->address);
        snprintf(t->from, sizeof t->from, "$PYRPOOL_SOCKET");
        return 0;
    }
    if (config != NULL)
        return from_config(config, t, err, errlen);
    snprintf(t->address, sizeof t->address, "unix:%s", CTL_DEFAULT_SOCKET);
    snprintf(t->from, sizeof t->from, "the default");
    return 0;
}
