/* The http { } block as a configuration spells it: the directives of the
 * http, server and location contexts (and of if and limit_except blocks
 * inside them), the nesting of server { } and location { } blocks, and the
 * inheritance of every unset setting from the enclosing block
 * (http -> server -> location). What it builds are the structs of
 * http/conf.h, which every http module reads; this parser sits above the
 * modules whose directive tables and checks it drives, so the types and the
 * parser are kept apart. */
#ifndef KP_HTTP_CONF_BLOCK_H
#define KP_HTTP_CONF_BLOCK_H

#include "kelpie/util/conf.h"

/* Directive table: `http` (main context) and everything inside it. The
 * handlers build the struct kp_http_conf (http/conf.h) in
 * cf->modules[KP_CONF_MODULE_HTTP]. */
extern const struct kp_conf_cmd kp_http_conf_block_cmds[];

#endif
