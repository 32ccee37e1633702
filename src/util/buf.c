/* Byte buffers with read and write cursors. */
#include "kelpie/util/buf.h"

#include <string.h>

void kp_buf_init(struct kp_buf *b, char *mem, size_t size)
{
    b->start = b->pos = b->last = mem;
    b->end = mem + size;
}

size_t kp_buf_compact(struct kp_buf *b)
{
    size_t shift = (size_t)(b->pos - b->start);
    size_t len = kp_buf_len(b);

    if (shift == 0)
        return 0;
    memmove(b->start, b->pos, len);
    b->pos = b->start;
    b->last = b->start + len;
    return shift;
}

size_t kp_buf_append(struct kp_buf *b, const void *data, size_t n)
{
    size_t room = kp_buf_free(b);

    if (n > room)
        n = room;
    memcpy(b->last, data, n);
    b->last += n;
    return n;
}
