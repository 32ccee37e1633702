/* The events { } block: connection limits, the demultiplexer backend and the
 * accept policy (see struct kp_events_conf in proc/cycle.h). */
#ifndef KP_EVENT_CONF_H
#define KP_EVENT_CONF_H

#include "kelpie/util/conf.h"

/* Directive table: `events` (main context) and what goes inside it. */
extern const struct kp_conf_cmd kp_event_conf_cmds[];

/* Set the defaults: 512 connections, epoll, accept_mutex on with 500ms
 * delay, multi_accept off. */
void kp_event_conf_init(struct kp_events_conf *ev);

#endif
