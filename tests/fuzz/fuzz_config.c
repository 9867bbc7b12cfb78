/* Fuzz target: the config loader (config_load) on arbitrary YAML, as the
 * daemon reads pyrpoold.yaml at start, on SIGHUP and for --check. It must
 * answer an error or a config, never crash or leak (config_free). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    struct config cfg;
    char err[CONFIG_ERR_LEN];
    FILE *f;

    if (path[0] == '\0')
        snprintf(path, sizeof path, "/tmp/pyrpool-fuzz-config-%d.yaml", (int)getpid());
    f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    if (config_load(path, 2, &cfg, err, sizeof err) == 0)
        config_free(&cfg);
    return 0;
}
