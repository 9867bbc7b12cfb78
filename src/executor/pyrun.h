/* pyrun: what an executor does with each frame the master sends: resolve
 * module:function (cached), decode the arguments, call, encode the answer
 * or the exception as a RESULT frame. Runs with the GIL held. */
#ifndef PYRPOOL_PYRUN_H
#define PYRPOOL_PYRUN_H

#include <stdbool.h>
#include <stddef.h>

#include <msgpack.h>

/* Prepares the executor's interpreter: path entries go first on sys.path.
 * Returns 0, or -1 after printing the Python error. */
int pyrun_init(char **path, size_t npath, bool allow_eval, bool strict_names);

/* Handles one CALL/EVAL/EXEC frame body and appends its RESULT frame to out.
 * Returns 0, or -1 when the frame is not one the master sends (a bug or
 * corruption: the executor then exits). */
int pyrun_frame(msgpack_sbuffer *out, const char *body, size_t len);

/* Drops the cached callables (before Py_Finalize). */
void pyrun_fini(void);

/* The exception now set, formatted as Python prints it (a malloc'd UTF-8
 * string), and cleared; NULL when there is none or it cannot be formatted. */
char *pyrun_format_exception(void);

#endif
