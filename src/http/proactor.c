/* The simulated proactor's handler threads (see proactor.h). */
#include "kelpie/http/proactor.h"

#include <stddef.h>

#include "kelpie/util/alloc.h"
#include "kelpie/event/offload.h"
#include "kelpie/http/handler.h"
#include "kelpie/http/regex.h"
#include "kelpie/http/ctx.h"

/* One handler thread's own services. */
struct thread {
    pthread_mutex_t mu; /* held while a handler runs here, and for its cleanups */
    struct kp_log log;  /* the worker's, stamped with clock */
    struct kp_clock clock;
    struct kp_http_services svc;
    struct kp_http_filecache files;
    struct kp_http_docroots roots;
    struct kp_http_gzcache gz;
    struct kp_http_auth_cache auth;
};

struct kp_http_proactor {
    struct kp_offload *pool;
    struct thread *threads;
    unsigned n;
    kp_http_proactor_done_fn done; /* a request is back */
};

static void *thread_init(void *arg, unsigned i)
{
    struct kp_http_proactor *p = arg;

    return &p->threads[i];
}

/* A thread's services: the reactor's, with caches, clock and log of its own. */
static void thread_setup(struct thread *t, const struct kp_http_ctx *ctx)
{
    const struct kp_http_conf *http = ctx->http;

    pthread_mutex_init(&t->mu, NULL);
    t->log = *ctx->log;
    t->log.clock = &t->clock;
    /* A daemon's start report is the reactor's business (its descriptor
     * goes away once the worker is up). */
    t->log.tee = false;
    t->clock = ctx->loop->clock;
    t->svc = ctx->svc;
    t->svc.log = &t->log;
    t->svc.clock = &t->clock;
    t->svc.files = &t->files;
    t->svc.roots = &t->roots;
    t->svc.gz = &t->gz;
    t->svc.auth = &t->auth;
    t->svc.match_data = http->n_regexes > 0 ? kp_http_regex_match_data() : NULL;
    kp_http_filecache_init(&t->files, http->open_file_cache_max, http->open_file_cache_valid_ms,
                           http->open_file_cache_inactive_ms);
}

static void thread_release(struct thread *t)
{
    if (t->svc.match_data != NULL)
        kp_http_regex_match_data_free(t->svc.match_data);
    kp_http_filecache_free(&t->files);
    kp_http_gzcache_free(&t->gz);
    kp_http_auth_cache_free(&t->auth);
    kp_http_docroots_free(&t->roots);
    pthread_mutex_destroy(&t->mu);
}

int kp_http_proactor_start(struct kp_http_proactor **out, struct kp_http_ctx *ctx, unsigned threads,
                           kp_http_proactor_done_fn done)
{
    struct kp_http_proactor *p = kp_calloc(1, sizeof(*p));

    p->n = threads;
    p->done = done;
    p->threads = kp_calloc(threads, sizeof(*p->threads));
    for (unsigned i = 0; i < threads; i++)
        thread_setup(&p->threads[i], ctx);
    const struct kp_offload_opts o = {
        .threads = threads, .thread_init = thread_init, .arg = p, .name = "handler"};
    int rc = kp_offload_create(&p->pool, ctx->loop, &o, ctx->log);
    if (rc < 0) {
        p->pool = NULL;
        kp_http_proactor_stop(p);
        return rc;
    }
    *out = p;
    return 0;
}

void kp_http_proactor_stop(struct kp_http_proactor *p)
{
    if (p == NULL)
        return;
    kp_offload_destroy(p->pool);
    for (unsigned i = 0; i < p->n; i++)
        thread_release(&p->threads[i]);
    kp_free(p->threads);
    kp_free(p);
}

unsigned kp_http_proactor_busy(const struct kp_http_proactor *p)
{
    return kp_offload_pending(p->pool);
}

static struct kp_http_conn *conn_of(struct kp_offload_task *task)
{
    return (struct kp_http_conn *)((char *)task - offsetof(struct kp_http_conn, task));
}

/* In a handler thread: the content phase, on this thread's services. */
static void run(void *tctx, struct kp_offload_task *task)
{
    struct thread *t = tctx;
    struct kp_http_conn *hc = conn_of(task);
    struct kp_http_request *r = hc->r;

    pthread_mutex_lock(&t->mu);
    t->clock = hc->away_clock;
    r->svc = &t->svc;
    r->ran_on = &t->mu;
    if (hc->away_resume)
        kp_http_handler_resume(r);
    else
        kp_http_handler_run(r);
    pthread_mutex_unlock(&t->mu);
}

/* Back in the reactor: its own services again (the access log, the
 * response head's variables). */
static void back(struct kp_http_conn *hc)
{
    hc->away = false;
    hc->r->svc = &hc->ctx->svc;
}

static void done(struct kp_offload_task *task)
{
    struct kp_http_conn *hc = conn_of(task);

    back(hc);
    hc->ctx->proactor->done(hc);
}

void kp_http_proactor_submit(struct kp_http_proactor *p, struct kp_http_conn *hc, bool after_delay)
{
    hc->away = true;
    hc->away_resume = after_delay;
    hc->away_events = 0;
    hc->away_clock = hc->loop->clock;
    kp_offload_submit(p->pool, &hc->task, run, done);
}

void kp_http_proactor_reclaim(struct kp_http_proactor *p, struct kp_http_conn *hc)
{
    kp_offload_wait(p->pool, &hc->task);
    back(hc);
}
