/* Byte buffers with a read cursor and a write cursor:
 *   start <= pos <= last <= end
 * [pos, last) holds unread data, [last, end) is free space. The storage is
 * owned by whoever created the buffer. */
#ifndef KP_BUF_H
#define KP_BUF_H

#include <stddef.h>

struct kp_buf {
    char *start;
    char *pos;
    char *last;
    char *end;
};

/* Wrap caller-owned storage. */
void kp_buf_init(struct kp_buf *b, char *mem, size_t size);
static inline size_t kp_buf_len(const struct kp_buf *b)
{
    return (size_t)(b->last - b->pos);
}
static inline size_t kp_buf_free(const struct kp_buf *b)
{
    return (size_t)(b->end - b->last);
}
static inline size_t kp_buf_size(const struct kp_buf *b)
{
    return (size_t)(b->end - b->start);
}
/* Move unread data to the start to make room at the end. Returns the number of
 * bytes the data moved by (callers holding slices must shift them). */
size_t kp_buf_compact(struct kp_buf *b);
/* Append up to n bytes; returns how many fit. */
size_t kp_buf_append(struct kp_buf *b, const void *data, size_t n);
static inline void kp_buf_reset(struct kp_buf *b)
{
    b->pos = b->last = b->start;
}

#endif
