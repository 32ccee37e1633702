/* nginx's stub_status page, as the integration tests read it. */
#ifndef KP_TEST_STUB_H
#define KP_TEST_STUB_H

/* The numbers of a stub page, in the order the page shows them. */
struct kp_stub {
    long long active, accepts, handled, requests, reading, writing, waiting;
};

/* Parse body as nginx's stub page and check its layout to the byte
 * (trailing spaces included: scrapers split it by position); the test
 * fails otherwise. */
void kp_stub_parse(const char *body, struct kp_stub *st);

#endif
