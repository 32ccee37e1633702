/* Severity names (see log_level.h): one table for the error log's lines and
 * levels and for syslog's severity=. */
#include "kelpie/util/log_level.h"

#include <string.h>

static const char *const level_names[] = {"emerg", "alert",  "crit", "error",
                                          "warn",  "notice", "info", "debug"};

const char *kp_log_level_name(enum kp_log_level level)
{
    return level_names[level];
}

int kp_log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    }
    return -1;
}
