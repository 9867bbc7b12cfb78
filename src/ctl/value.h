/* value: pyrpoolctl's values on the command line and on stdout. An
 * argument is read as JSON when it looks like JSON (starts with [ { or ",
 * or is a number, true, false or null), else it is taken as a string, so
 * that `call os.path.join a b` works; '"16"' passes the string 16. Results
 * print as JSON: bin values as base64 strings, floats that are not finite
 * as the strings "Infinity", "-Infinity", "NaN", map keys that are not
 * strings as their JSON text. */
#ifndef PYRPOOL_CTL_VALUE_H
#define PYRPOOL_CTL_VALUE_H

#include <stdio.h>

#include <msgpack.h>

/* Packs the value arg stands for. Returns 0, or -1 with why in err. */
int value_pack(msgpack_packer *pk, const char *arg, char *err, size_t errlen);

/* Prints o as JSON (compact: one line). */
void value_print_json(FILE *f, const msgpack_object *o);

#endif
