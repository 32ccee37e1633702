/* Unit tests for the thread pools (event/tpool.h): tasks run in pool
 * threads and come back to the posting loop's thread through its port; a
 * pool that may queue nothing refuses a task once its threads are busy;
 * forgetting a task waits for it and skips its done callback; closing a
 * port waits for what runs. Run under TSan by CI's thread stage. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "kelpie/event/loop.h"
#include "kelpie/event/tpool.h"

struct job {
    struct kp_task task;
    pthread_t worker;  /* the thread that ran work */
    pthread_t doer;    /* the thread that ran done */
    bool done;         /* done ran */
    atomic_bool *gate; /* work waits until it is true (NULL: no wait) */
    atomic_bool started;
};

static void work(struct kp_task *t)
{
    struct job *j = t->data;

    j->worker = pthread_self();
    atomic_store(&j->started, true);
    while (j->gate != NULL && !atomic_load(j->gate))
        usleep(1000);
}

static void done(struct kp_task *t)
{
    struct job *j = t->data;

    j->doer = pthread_self();
    j->done = true;
}

static void job_init(struct job *j, atomic_bool *gate)
{
    *j = (struct job){.gate = gate};
    j->task = (struct kp_task){.work = work, .done = done, .data = j};
}

/* Run the loop until every job is done (at most ~10 s). */
static void run_until_done(struct kp_loop *loop, struct job *jobs, int n)
{
    for (int round = 0; round < 1000; round++) {
        int left = 0;
        for (int i = 0; i < n; i++)
            left += !jobs[i].done;
        if (left == 0)
            return;
        ck_assert_int_eq(kp_loop_run_once(loop, 10), 0);
    }
    ck_abort_msg("tasks did not come back");
}

static void setup(struct kp_loop *loop, struct kp_tpools *set, struct kp_task_port *port,
                  unsigned threads, unsigned max_queue)
{
    struct kp_tpool_conf cf = {.name = "t", .threads = threads, .max_queue = max_queue};

    ck_assert_int_eq(kp_loop_init(loop, KP_EVENT_EPOLL, 16, NULL), 0);
    ck_assert_int_eq(kp_tpools_start(set, &cf, 1, NULL), 0);
    ck_assert_ptr_nonnull(kp_tpools_find(set, "t"));
    ck_assert_ptr_null(kp_tpools_find(set, "u"));
    ck_assert_int_eq(kp_task_port_open(port, loop), 0);
}

static void teardown(struct kp_loop *loop, struct kp_tpools *set, struct kp_task_port *port)
{
    kp_task_port_close(port);
    kp_tpools_stop(set);
    kp_loop_free(loop);
}

START_TEST(tpool_round_trip)
{
    struct kp_loop loop;
    struct kp_tpools set;
    struct kp_task_port port;
    struct job jobs[64];
    unsigned waiting = 0;

    setup(&loop, &set, &port, 4, 64);
    for (int i = 0; i < 64; i++) {
        job_init(&jobs[i], NULL);
        ck_assert_int_eq(kp_tpool_post(&set.pools[0], &port, &jobs[i].task, &waiting), 0);
    }
    run_until_done(&loop, jobs, 64);
    for (int i = 0; i < 64; i++) {
        ck_assert(!pthread_equal(jobs[i].worker, pthread_self()));
        ck_assert(pthread_equal(jobs[i].doer, pthread_self()));
    }
    teardown(&loop, &set, &port);
}
END_TEST

/* max_queue counts the tasks that wait for a thread, as nginx's does. */
START_TEST(tpool_overflow)
{
    struct kp_loop loop;
    struct kp_tpools set;
    struct kp_task_port port;
    struct job a, b, c;
    atomic_bool gate = false;
    unsigned waiting = 99;

    /* max_queue 0: no task may wait, not even for an idle thread. */
    setup(&loop, &set, &port, 1, 0);
    job_init(&a, &gate);
    ck_assert_int_eq(kp_tpool_post(&set.pools[0], &port, &a.task, &waiting), -EAGAIN);
    ck_assert_uint_eq(waiting, 0);
    kp_tpools_stop(&set);

    /* One thread, one place: a runs, b waits, c overflows. */
    struct kp_tpool_conf cf = {.name = "t", .threads = 1, .max_queue = 1};
    ck_assert_int_eq(kp_tpools_start(&set, &cf, 1, NULL), 0);
    ck_assert_int_eq(kp_tpool_post(&set.pools[0], &port, &a.task, &waiting), 0);
    for (int i = 0; i < 10000 && !atomic_load(&a.started); i++)
        usleep(1000);
    ck_assert(atomic_load(&a.started));
    job_init(&b, NULL);
    job_init(&c, NULL);
    ck_assert_int_eq(kp_tpool_post(&set.pools[0], &port, &b.task, &waiting), 0);
    ck_assert_int_eq(kp_tpool_post(&set.pools[0], &port, &c.task, &waiting), -EAGAIN);
    ck_assert_uint_eq(waiting, 1);
    atomic_store(&gate, true);
    run_until_done(&loop, &a, 1);
    run_until_done(&loop, &b, 1);
    ck_assert(!c.done);
    teardown(&loop, &set, &port);
}
END_TEST

/* Forget: waits for the task, its done is never called. */
START_TEST(tpool_forget)
{
    struct kp_loop loop;
    struct kp_tpools set;
    struct kp_task_port port;
    struct job a, b;
    unsigned waiting;

    setup(&loop, &set, &port, 2, 8);
    job_init(&a, NULL);
    job_init(&b, NULL);
    ck_assert_int_eq(kp_tpool_post(&set.pools[0], &port, &a.task, &waiting), 0);
    ck_assert_int_eq(kp_tpool_post(&set.pools[0], &port, &b.task, &waiting), 0);
    kp_task_port_forget(&port, &a.task);
    run_until_done(&loop, &b, 1);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(kp_loop_run_once(&loop, 1), 0);
    ck_assert(!a.done);
    teardown(&loop, &set, &port);
}
END_TEST

/* Closing the port waits for the task still running. */
START_TEST(tpool_close_waits)
{
    struct kp_loop loop;
    struct kp_tpools set;
    struct kp_task_port port;
    struct job a;
    atomic_bool gate = false;
    unsigned waiting;

    setup(&loop, &set, &port, 1, 1);
    job_init(&a, &gate);
    ck_assert_int_eq(kp_tpool_post(&set.pools[0], &port, &a.task, &waiting), 0);
    atomic_store(&gate, true);
    kp_task_port_close(&port);
    ck_assert(!a.done);
    kp_tpools_stop(&set);
    kp_loop_free(&loop);
}
END_TEST

Suite *kp_test_tpool_suite(void)
{
    Suite *s = suite_create("tpool");
    TCase *tc = tcase_create("tpool");

    tcase_add_test(tc, tpool_round_trip);
    tcase_add_test(tc, tpool_overflow);
    tcase_add_test(tc, tpool_forget);
    tcase_add_test(tc, tpool_close_waits);
    suite_add_tcase(s, tc);
    return s;
}
