/* check: what `pyrpoold --check` verifies beyond what config_load reads:
 * that every python.preload module imports, in a throwaway executor
 * started as the pools' would be (python.venv, python.path). A leaf: it
 * runs one process and reads its answer. */
#ifndef PYRPOOL_CHECK_H
#define PYRPOOL_CHECK_H

#include "config.h"

/* Seconds the throwaway executor may take. */
#define CHECK_IMPORT_TIMEOUT 60

/* Imports cfg's preload modules with executor (the pyrpool-executor
 * binary). Prints one "FILE: python.preload: cannot import ..." line on
 * stderr for each that fails. Returns 0 when all import (or none is
 * listed), else -1. */
int check_preload(const struct config *cfg, const char *executor);

#endif
