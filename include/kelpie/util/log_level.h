/* The eight severities shared by the error log (util/log.h) and the syslog
 * target (util/syslog.h), and their names as a configuration spells them:
 * error_log's LEVEL and syslog's severity= take the same words. The numbers
 * are syslog's severities (RFC 5424 section 6.2.1), so a level goes into a
 * syslog PRI as it is. Kept apart from the log so that syslog, which the log
 * writes through, need not reach back into the log for the names. */
#ifndef KP_LOG_LEVEL_H
#define KP_LOG_LEVEL_H

enum kp_log_level {
    KP_LOG_EMERG = 0,
    KP_LOG_ALERT,
    KP_LOG_CRIT,
    KP_LOG_ERR,
    KP_LOG_WARN,
    KP_LOG_NOTICE,
    KP_LOG_INFO,
    KP_LOG_DEBUG,
};

/* "emerg".."debug" -> level (name NUL-terminated). Returns -1 for an unknown
 * name. */
int kp_log_level_parse(const char *name);
/* The name of level ("emerg".."debug"), a static string. */
const char *kp_log_level_name(enum kp_log_level level);

#endif
