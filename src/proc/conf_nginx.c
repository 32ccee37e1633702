/* nginx's tuning knobs that have nothing to tune in kelpie: accepted,
 * checked and ignored (see proc/conf_nginx.h). */
#include "kelpie/proc/conf_nginx.h"

#include <string.h>

#define HTTP_SRV (KP_CONF_HTTP | KP_CONF_SRV)
#define HTTP_ANY (KP_CONF_HTTP | KP_CONF_SRV | KP_CONF_LOC)
#define MAX_KNOB (UINT64_C(1) << 32)

/* A size knob: the value is checked as nginx would, then dropped. nginx's
 * hash and pool sizes tune data structures kelpie builds differently (MIME
 * types are a sorted table, server names a short list per address, variables
 * indexes fixed at load; request memory is one growing arena). */
static int ignore_size(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    uint64_t v;

    (void)cmd;
    (void)conf;
    if (kp_conf_parse_size(cf->args[1], MAX_KNOB, &v) != 0 || v == 0)
        return kp_conf_invalid(cf, cf->args[1]);
    return 0;
}

/* client_body_temp_path PATH [LEVEL1 [LEVEL2 [LEVEL3]]]: kelpie reads no
 * request bodies into files (static content takes none), so there is no
 * temp directory; the levels are checked as nginx does (1 or 2 each). */
static int ignore_temp_path(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    (void)cmd;
    (void)conf;
    for (size_t i = 2; i < cf->nargs; i++) {
        if (strcmp(cf->args[i], "1") != 0 && strcmp(cf->args[i], "2") != 0)
            return kp_conf_invalid(cf, cf->args[i]);
    }
    return 0;
}

const struct kp_conf_cmd kp_conf_nginx_cmds[] = {
    {"types_hash_max_size", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"types_hash_bucket_size", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"server_names_hash_max_size", KP_CONF_HTTP, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"server_names_hash_bucket_size", KP_CONF_HTTP, KP_CONF_TAKE(1), 0, ignore_size,
     KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"variables_hash_max_size", KP_CONF_HTTP, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"variables_hash_bucket_size", KP_CONF_HTTP, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"connection_pool_size", HTTP_SRV, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"request_pool_size", HTTP_SRV, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    /* Request bodies are read and dropped (static content takes none):
     * there is no body buffer to size. */
    {"client_body_buffer_size", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"client_body_temp_path", HTTP_ANY, KP_CONF_RANGE(1, 4), 0, ignore_temp_path, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {NULL, 0, KP_CONF_NOARGS, 0, NULL, 0, KP_CONF_NOFIELD},
};
