/* The error_log directive as nginx spells it, for every context that takes
 * it (main, http, server, location):
 *
 *   error_log FILE|stderr|syslog:... [LEVEL];
 *
 * LEVEL is debug, info, notice, warn, error (the default), crit, alert or
 * emerg: messages of that severity and more severe ones are written. Several
 * error_log lines in one block all write, each at its own level (a chain of
 * struct kp_log, util/log.h); the first one in a block replaces what the
 * block inherited. */
#ifndef KP_LOGCONF_H
#define KP_LOGCONF_H

#include "kelpie/util/conf.h"
#include "kelpie/util/log.h"

/* Parse the current error_log statement (cf->args) into a new log from
 * cf->arena: path joined to the prefix (NULL for stderr and for syslog:,
 * then with its syslog target, util/syslog.h), level, fd -1 (not
 * opened: whoever opens log files sets it; never kp_log_close such a log).
 * Returns NULL after reporting the error (a bad level: `invalid log level
 * "X"` with file:line). */
struct kp_log *kp_logconf_parse(struct kp_conf *cf);

/* Add l to *chain: as the whole chain when the statement is the block's
 * first error_log (replacing the inherited one), else at its end. */
void kp_logconf_add(struct kp_log **chain, struct kp_log *l, bool first);

#endif
