/* example: the README's example, built against the shared library through
 * pkg-config by `make client-c-test` and run by the test suite.
 * Usage: example-client-c ADDRESS   (prints math.sqrt(16)) */
#include <stdio.h>

#include <pyrpool/client.h>

int main(int argc, char **argv)
{
    pyrpool_client *cli = NULL;
    pyrpool_result *res;
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s unix:PATH | tcp:HOST:PORT\n", argv[0]);
        return 2;
    }
    rc = pyrpool_connect(argv[1], NULL, &cli, &err);
    if (rc == 0)
        rc = pyrpool_callf(cli, "math", "sqrt", NULL, &res, &err, "[i]", 16);
    if (rc == 0) {
        printf("%g\n", pyrpool_result_value(res)->via.f64);
        pyrpool_result_free(res);
    } else {
        fprintf(stderr, "%s\n", err.message);
    }
    pyrpool_error_free(&err);
    pyrpool_close(cli);
    return rc == 0 ? 0 : 1;
}
