/*
 * Calls that SA_RESTART does not restart besides the waits of wrap_waits.c: System V message
 * queues and semaphores (msgrcv, msgsnd, semop, semtimedop), and the socket calls while the socket
 * has a receive or send timeout (recv, recvfrom, recvmsg, send, sendto, sendmsg, accept,
 * accept4). An EINTR that the lease handler alone can have caused (lease_eintr.h,
 * mg_lease_eintr) is not the program's: such a call transferred nothing, and is made
 * again. A socket's own timeout then starts anew (it cannot be shortened from outside without
 * changing the socket for every thread): a call the lease handler interrupted can wait up to
 * that much longer than bare, never end early.
 */
#define _GNU_SOURCE
#include "real.h"
#include "wait_again.h"

#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/socket.h>

MG_AGAIN_WRAPPER(ssize_t, msgrcv, (int q, void *msg, size_t size, long type, int flags),
		 (q, msg, size, type, flags), MG_SYS6(SYS_msgrcv, q, msg, size, type, flags, 0))
MG_AGAIN_WRAPPER(int, msgsnd, (int q, const void *msg, size_t size, int flags),
		 (q, msg, size, flags), MG_SYS4(SYS_msgsnd, q, msg, size, flags))
MG_AGAIN_WRAPPER(int, semop, (int id, struct sembuf *ops, size_t n), (id, ops, n),
		 MG_SYS4(SYS_semtimedop, id, ops, n, NULL))
MG_AGAIN_WRAPPER(ssize_t, recv, (int fd, void *buf, size_t n, int flags), (fd, buf, n, flags),
		 MG_SYS6(SYS_recvfrom, fd, buf, n, flags, 0, 0))
MG_AGAIN_WRAPPER(ssize_t, recvfrom, (int fd, void *buf, size_t n, int flags, struct sockaddr *from,
				     socklen_t *len),
		 (fd, buf, n, flags, from, len), MG_SYS6(SYS_recvfrom, fd, buf, n, flags, from, len))
MG_AGAIN_WRAPPER(ssize_t, recvmsg, (int fd, struct msghdr *m, int flags), (fd, m, flags),
		 MG_SYS3(SYS_recvmsg, fd, m, flags))
MG_AGAIN_WRAPPER(ssize_t, send, (int fd, const void *buf, size_t n, int flags), (fd, buf, n, flags),
		 MG_SYS6(SYS_sendto, fd, buf, n, flags, 0, 0))
MG_AGAIN_WRAPPER(ssize_t, sendto, (int fd, const void *buf, size_t n, int flags,
				   const struct sockaddr *to, socklen_t len),
		 (fd, buf, n, flags, to, len), MG_SYS6(SYS_sendto, fd, buf, n, flags, to, len))
MG_AGAIN_WRAPPER(ssize_t, sendmsg, (int fd, const struct msghdr *m, int flags), (fd, m, flags),
		 MG_SYS3(SYS_sendmsg, fd, m, flags))
MG_AGAIN_WRAPPER(int, accept, (int fd, struct sockaddr *addr, socklen_t *len), (fd, addr, len),
		 MG_SYS3(SYS_accept, fd, addr, len))
MG_AGAIN_WRAPPER(int, accept4, (int fd, struct sockaddr *addr, socklen_t *len, int flags),
		 (fd, addr, len, flags), MG_SYS4(SYS_accept4, fd, addr, len, flags))

static int semtimedop_once(int id, struct sembuf *ops, size_t n, const struct timespec *t)
{
	return MG_CALL_REAL(semtimedop, (id, ops, n, t), MG_SYS4(SYS_semtimedop, id, ops, n, t));
}

/* An interrupted semaphore operation did nothing: made again with what is left of its time. */
MG_EXPORT int semtimedop(int id, struct sembuf *ops, size_t n, const struct timespec *t)
{
	if (mg_likely(!mg_again_wanted()))
		return semtimedop_once(id, ops, n, t);
	struct mg_again a;
	mg_again_begin(&a, t);
	int r;
	do
		r = semtimedop_once(id, ops, n, mg_again_timeout(&a, t));
	while (mg_again_next(&a, r, NULL, NULL));
	return r;
}
