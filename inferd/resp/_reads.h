/* What the _reads extension's files share: _reads.c (drain, QuickRead, flush_held, the module) and _reads_reply.c
 * (plain_reply). Shared symbols carry an rd_ prefix: the extension's symbols are not hidden.
 */
#ifndef INFERD_READS_H
#define INFERD_READS_H

#include <Python.h>

/* Load what plain_reply needs (the Status type); -1 with an exception set when it cannot. */
int rd_reply_init(void);

/* plain_reply(value, resp3) -> bytes | None: see _reads.c's header. */
PyObject *rd_plain_reply(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
