/*
 * TLS for TCP listeners, with OpenSSL, in front of libmicrohttpd (whose
 * own TLS would be GnuTLS): an acceptor thread takes each connection,
 * a thread per connection does the handshake (with a deadline) and then
 * moves bytes between the TLS session and one end of a socket pair whose
 * other end libmicrohttpd serves (MHD_add_connection, with the client's
 * real address).  Connections are bounded in number; an idle one is
 * closed after the request timeout.
 */
#include "daemon/fedsignd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define HANDSHAKE_MS	10000
#define BUF		16384

struct fsd_tls {
	int fd;
	SSL_CTX *ctx;
	struct MHD_Daemon *mhd;
	unsigned max;
	int idle_ms;
	char name[160];
	int pipe[2];
	pthread_t acceptor;
	int running;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	unsigned nconn;
};

struct tconn {
	struct fsd_tls *t;
	int fd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

int
fsd_tls_ctx(const char *cert, const char *key, SSL_CTX **out, fs_err *err)
{
	static const unsigned char sid[] = "fedsignd";
	SSL_CTX *ctx;

	*out = NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return fs_err_openssl(err, FS_EINTERNAL, "SSL_CTX_new");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		SSL_CTX_free(ctx);
		return fs_err_openssl(err, FS_EUSAGE, "cannot use tls-cert '%s'",
		    cert);
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		SSL_CTX_free(ctx);
		return fs_err_openssl(err, FS_EUSAGE, "cannot use tls-key '%s' "
		    "(with tls-cert '%s')", key, cert);
	}
	*out = ctx;
	return FS_OK;
}

static int
ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long)(deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

static int
handshake(SSL *ssl, int fd)
{
	struct timespec deadline;
	struct pollfd p;
	int r, e;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += HANDSHAKE_MS / 1000;
	for (;;) {
		if ((r = SSL_accept(ssl)) == 1)
			return 0;
		e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return -1;
		p.fd = fd;
		p.events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		if ((r = poll(&p, 1, ms_left(&deadline))) == 0)
			return -1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* Move bytes both ways until either side closes or goes idle. */
static void
pump(struct tconn *tc, SSL *ssl, int sp)
{
	char in[BUF], out[BUF];
	size_t in_len = 0, in_off = 0, out_len = 0, out_off = 0;
	int rd_wants_out = 0, wr_wants_in = 0, wr_wants_out = 0, eof = 0;
	int pending = 0;

	for (;;) {
		struct pollfd p[2];
		int r, e, readable, writable;

		p[0].fd = tc->fd;
		p[0].events = (in_len == 0 || wr_wants_in ? POLLIN : 0) |
		    (rd_wants_out || wr_wants_out ? POLLOUT : 0);
		p[1].fd = sp;
		p[1].events = (out_len == 0 && !eof ? POLLIN : 0) |
		    (in_len > 0 ? POLLOUT : 0);
		p[0].revents = p[1].revents = 0;
		r = poll(p, 2, pending ? 0 : tc->t->idle_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (r == 0 && !pending))
			return;
		readable = (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
		writable = (p[0].revents & (POLLOUT | POLLERR)) != 0;
		/* From the client to libmicrohttpd. */
		if (in_len == 0 && (readable || pending ||
		    (rd_wants_out && writable))) {
			rd_wants_out = 0;
			r = SSL_read(ssl, in, sizeof(in));
			if (r > 0) {
				in_len = (size_t)r;
				in_off = 0;
			} else {
				e = SSL_get_error(ssl, r);
				if (e == SSL_ERROR_WANT_WRITE)
					rd_wants_out = 1;
				else if (e != SSL_ERROR_WANT_READ)
					return;
			}
		}
		if (in_len > 0) {
			ssize_t n = write(sp, in + in_off, in_len);

			if (n > 0) {
				in_off += (size_t)n;
				in_len -= (size_t)n;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				return;
			}
		}
		/* From libmicrohttpd to the client. */
		if (out_len == 0 && !eof &&
		    (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(sp, out, sizeof(out));

			if (n > 0) {
				out_len = (size_t)n;
				out_off = 0;
			} else if (n == 0) {
				eof = 1;
			} else if (errno != EAGAIN && errno != EINTR) {
				return;
			}
		}
		if (out_len > 0 && (!(wr_wants_in || wr_wants_out) ||
		    (wr_wants_in && readable) || (wr_wants_out && writable))) {
			wr_wants_in = wr_wants_out = 0;
			r = SSL_write(ssl, out + out_off, (int)out_len);
			if (r > 0) {
				out_off += (size_t)r;
				out_len -= (size_t)r;
			} else {
				e = SSL_get_error(ssl, r);
				if (e == SSL_ERROR_WANT_WRITE)
					wr_wants_out = 1;
				else if (e == SSL_ERROR_WANT_READ)
					wr_wants_in = 1;
				else
					return;
			}
		}
		if (eof && out_len == 0) {
			(void)SSL_shutdown(ssl);
			return;
		}
		pending = in_len == 0 && SSL_pending(ssl) > 0;
	}
}

static void *
conn_main(void *arg)
{
	struct tconn *tc = arg;
	struct fsd_tls *t = tc->t;
	SSL *ssl = NULL;
	int sp[2] = { -1, -1 };

	(void)fcntl(tc->fd, F_SETFL, fcntl(tc->fd, F_GETFL) | O_NONBLOCK);
	if ((ssl = SSL_new(t->ctx)) == NULL || SSL_set_fd(ssl, tc->fd) != 1 ||
	    handshake(ssl, tc->fd) != 0)
		goto out;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		goto out;
	if (MHD_add_connection(t->mhd, sp[1], (struct sockaddr *)&tc->addr,
	    tc->addrlen) != MHD_YES) {
		sp[1] = -1;	/* closed by libmicrohttpd */
		goto out;
	}
	sp[1] = -1;
	(void)fcntl(sp[0], F_SETFL, fcntl(sp[0], F_GETFL) | O_NONBLOCK);
	pump(tc, ssl, sp[0]);
out:
	ERR_clear_error();
	SSL_free(ssl);
	if (sp[0] != -1)
		close(sp[0]);
	if (sp[1] != -1)
		close(sp[1]);
	close(tc->fd);
	free(tc);
	/*
	 * OpenSSL's state for this thread goes before the thread is counted
	 * gone: main may then return, and OpenSSL's atexit cleanup would
	 * race with the thread's own destructor (a leak or a double free).
	 */
	OPENSSL_thread_stop();
	pthread_mutex_lock(&t->lock);
	t->nconn--;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void *
acceptor_main(void *arg)
{
	struct fsd_tls *t = arg;
	pthread_attr_t a;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 256 * 1024);
	for (;;) {
		struct pollfd p[2] = { { t->fd, POLLIN, 0 },
		    { t->pipe[0], POLLIN, 0 } };
		struct tconn *tc;
		pthread_t th;
		int full;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		if ((tc = calloc(1, sizeof(*tc))) == NULL)
			continue;
		tc->t = t;
		tc->addrlen = sizeof(tc->addr);
		tc->fd = accept4(t->fd, (struct sockaddr *)&tc->addr,
		    &tc->addrlen, SOCK_CLOEXEC);
		if (tc->fd == -1) {
			free(tc);
			continue;
		}
		pthread_mutex_lock(&t->lock);
		full = t->nconn >= t->max;
		if (!full)
			t->nconn++;
		pthread_mutex_unlock(&t->lock);
		if (full) {
			log_debug("%s: %u connections: one more refused",
			    t->name, t->max);
			close(tc->fd);
			free(tc);
			continue;
		}
		if (pthread_create(&th, &a, conn_main, tc) != 0) {
			close(tc->fd);
			free(tc);
			pthread_mutex_lock(&t->lock);
			t->nconn--;
			pthread_mutex_unlock(&t->lock);
		}
	}
	pthread_attr_destroy(&a);
	return NULL;
}

int
fsd_tls_start(int fd, SSL_CTX *ctx, struct MHD_Daemon *mhd,
    unsigned max_conns, int64_t timeout, const char *name,
    struct fsd_tls **out, fs_err *err)
{
	struct fsd_tls *t;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return fs_err_nomem(err, "starting TLS");
	t->fd = fd;
	t->ctx = ctx;
	t->mhd = mhd;
	t->max = max_conns;
	t->idle_ms = (int)(timeout * 1000);
	snprintf(t->name, sizeof(t->name), "%s", name);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cv, NULL);
	if (pipe2(t->pipe, O_CLOEXEC) == -1) {
		free(t);
		return fs_err_set(err, FS_EINTERNAL, "pipe: %s", strerror(errno));
	}
	if (pthread_create(&t->acceptor, NULL, acceptor_main, t) != 0) {
		close(t->pipe[0]);
		close(t->pipe[1]);
		free(t);
		return fs_err_set(err, FS_EINTERNAL, "cannot start a thread");
	}
	t->running = 1;
	*out = t;
	return FS_OK;
}

void
fsd_tls_quiesce(struct fsd_tls *t)
{
	if (t == NULL || !t->running)
		return;
	(void)!write(t->pipe[1], "x", 1);
	pthread_join(t->acceptor, NULL);
	t->running = 0;
}

void
fsd_tls_stop(struct fsd_tls *t)
{
	struct timespec deadline;

	if (t == NULL)
		return;
	fsd_tls_quiesce(t);
	/* libmicrohttpd has closed its ends: the pumps see them go. */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	pthread_mutex_lock(&t->lock);
	while (t->nconn > 0)
		if (pthread_cond_timedwait(&t->cv, &t->lock, &deadline) ==
		    ETIMEDOUT)
			break;
	if (t->nconn > 0) {
		/* A client that will not go: leave its thread the memory. */
		pthread_mutex_unlock(&t->lock);
		return;
	}
	pthread_mutex_unlock(&t->lock);
	close(t->pipe[0]);
	close(t->pipe[1]);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cv);
	free(t);
}
