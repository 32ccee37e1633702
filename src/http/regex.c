/* PCRE2 regexes (see regex.h): compilation with the configuration, the
 * optional JIT, named captures as variables, and matching with a worker's
 * match block. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "kelpie/http/regex.h"

#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kelpie/util/alloc.h"
#include "kelpie/http/req.h"
#include "kelpie/http/var.h"

static void free_code(void *code)
{
    pcre2_code_free(code);
}

static void jit(struct kp_http_regex *re)
{
    /* A regex the JIT cannot take still matches, interpreted. */
    (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
}

/* Define a variable for each (?<name>...) of re. */
static int add_names(struct kp_conf *cf, struct kp_http_regex *re)
{
    uint32_t count = 0, size = 0;
    PCRE2_SPTR table;

    pcre2_pattern_info(re->code, PCRE2_INFO_NAMECOUNT, &count);
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMEENTRYSIZE, &size);
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMETABLE, &table);
    re->names = kp_arena_calloc(cf->arena, (count > 0 ? count : 1) * sizeof(*re->names));
    for (uint32_t i = 0; i < count; i++) {
        PCRE2_SPTR e = table + (size_t)i * size;
        const char *name = (const char *)e + 2; /* after the 16-bit group number */
        const struct kp_http_var_def *d = kp_http_var_define(cf, name, NULL);
        if (d == NULL)
            return -EINVAL;
        re->names[re->n_names++] = (struct kp_http_regex_name){(unsigned)(e[0] << 8 | e[1]), d};
    }
    return 0;
}

int kp_http_regex_compile(struct kp_conf *cf, const char *pattern, bool icase,
                          struct kp_http_regex **out)
{
    struct kp_http_conf *http = kp_http_conf_of(cf);
    struct kp_http_regex *re = kp_arena_calloc(cf->arena, sizeof(*re));
    int err;
    PCRE2_SIZE off;
    unsigned char msg[128];
    uint32_t groups = 0;

    re->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, icase ? PCRE2_CASELESS : 0,
                             &err, &off, NULL);
    if (re->code == NULL) {
        pcre2_get_error_message(err, msg, sizeof(msg));
        return kp_conf_error(cf, "pcre2_compile() failed: %s in \"%s\" at \"%s\"", msg, pattern,
                             pattern + off);
    }
    kp_arena_cleanup_add(cf->arena, free_code, re->code);
    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &groups);
    re->groups = groups;
    re->source = kp_conf_strdup(cf->arena, pattern);
    if (add_names(cf, re) != 0)
        return -EINVAL;
    if (http->pcre_jit)
        jit(re);
    *KP_CONF_PUSH(cf->arena, http->regexes, http->n_regexes) = re;
    *out = re;
    return 0;
}

int kp_http_regex_conf_jit(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_conf *http = kp_http_conf_of(cf);

    (void)cmd;
    (void)conf;
    if (kp_conf_parse_flag(cf->args[1], &http->pcre_jit) != 0)
        return kp_conf_invalid(cf, cf->args[1]);
    /* Regexes compiled before this line get their JIT now. */
    for (size_t i = 0; http->pcre_jit && i < http->n_regexes; i++)
        jit(http->regexes[i]);
    return 0;
}

bool kp_http_regex_jit_available(void)
{
    uint32_t jit_ok = 0;

    pcre2_config(PCRE2_CONFIG_JIT, &jit_ok);
    return jit_ok != 0;
}

void kp_http_regex_version(char *version, size_t size)
{
    char v[64];

    if (pcre2_config(PCRE2_CONFIG_VERSION, v) < 0)
        v[0] = '\0';
    snprintf(version, size, "%s", v);
}

void *kp_http_regex_match_data(void)
{
    void *md = pcre2_match_data_create(KP_HTTP_MAX_CAPTURES, NULL);

    if (md == NULL)
        abort();
    return md;
}

void kp_http_regex_match_data_free(void *md)
{
    pcre2_match_data_free(md);
}

/* Keep the captures of a match in r: $0..$9 and the named ones. */
static void keep(struct kp_http_request *r, const struct kp_http_regex *re, struct kp_str subject,
                 pcre2_match_data *md, int rc)
{
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    unsigned n = rc > 0 ? (unsigned)rc : pcre2_get_ovector_count(md);

    kp_http_var_captures(r, subject.p, ov, n);
    for (size_t i = 0; i < re->n_names; i++) {
        unsigned g = re->names[i].group;
        struct kp_str v = KP_STR_NULL;
        if (g < n && ov[2 * g] <= ov[2 * g + 1])
            v = (struct kp_str){subject.p + ov[2 * g], ov[2 * g + 1] - ov[2 * g]};
        kp_http_var_set(r, re->names[i].var, v);
    }
}

int kp_http_regex_exec(struct kp_http_request *r, const struct kp_http_regex *re,
                       struct kp_str subject)
{
    bool own = r == NULL || r->svc == NULL || r->svc->match_data == NULL;
    pcre2_match_data *md = own ? kp_http_regex_match_data() : r->svc->match_data;

    int rc = pcre2_match(re->code, (PCRE2_SPTR)subject.p, subject.len, 0, 0, md, NULL);
    /* As in nginx, a regex without groups leaves the last captures alone. */
    if (rc >= 0 && r != NULL && re->groups > 0)
        keep(r, re, subject, md, rc);
    if (own)
        kp_http_regex_match_data_free(md);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    return rc >= 0 ? 1 : -1;
}
