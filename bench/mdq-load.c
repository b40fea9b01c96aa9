/*
 * mdq-load: a small HTTP/1.1 load client for bench/bench-serve.sh.
 *
 * usage: mdq-load [-c CONNS] [-d SECONDS] [-n MAX] [-e] [-g] [-a ACCEPT]
 *                 ADDR:PORT PATHS
 *
 * CONNS keep-alive connections (default 16) to ADDR:PORT, an IPv4 address
 * on this machine, each with one request in flight, for SECONDS (default
 * 5, at most 60) or MAX requests (default 2,000,000), whichever comes
 * first.  PATHS has a request path a line, optionally a tab and an ETag:
 * with -e each request carries If-None-Match with it (for 304s).  -g asks
 * for gzip.  One thread, epoll, no pipelining.  Prints one line:
 *
 *   requests=N seconds=S rps=R p50_ms=A p99_ms=B ok=N other=N errors=N
 *
 * where ok counts the answers of the expected status (200, or 304 with
 * -e) and the latencies are of those.  Only loopback targets are taken.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS	1024
#define MAX_SECONDS	60
#define BUF		16384

struct conn {
	int fd;
	char *req;		/* the request being sent */
	size_t reqlen, sent;
	char hdr[BUF];		/* the response's head, as it comes */
	size_t have;
	long long need;		/* body bytes still to come; -1: in head */
	int status;
	double t0;
};

static char **paths, **etags;
static size_t npaths, next;
static const char *host, *accept_hdr = "application/samlmetadata+xml";
static int use_etag, use_gzip;
static struct sockaddr_in addr;
static uint32_t *lat;		/* microseconds of the ok answers */
static size_t nlat, maxreq;
static unsigned long long nreq, nother, nerr;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void
build(struct conn *c)
{
	size_t i = next++ % npaths;
	int n;

	free(c->req);
	n = asprintf(&c->req, "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "Accept: %s\r\n%s%s%s%s\r\n", paths[i], host, accept_hdr,
	    use_gzip ? "Accept-Encoding: gzip\r\n" : "",
	    use_etag && etags[i] ? "If-None-Match: " : "",
	    use_etag && etags[i] ? etags[i] : "",
	    use_etag && etags[i] ? "\r\n" : "");
	if (n < 0) {
		perror("mdq-load");
		exit(2);
	}
	c->reqlen = (size_t)n;
	c->sent = 0;
	c->have = 0;
	c->need = -1;
	c->t0 = now();
}

static int
connect_one(int ep, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT };
	int one = 1;

	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 &&
	    errno != EINPROGRESS) {
		close(c->fd);
		return -1;
	}
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		return -1;
	build(c);
	return 0;
}

static void
reconnect(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (connect_one(ep, c) < 0) {
		fprintf(stderr, "mdq-load: cannot connect: %s\n",
		    strerror(errno));
		exit(1);
	}
}

/* The head is complete: status and Content-Length. */
static int
parse_head(struct conn *c, size_t hlen)
{
	const char *p = c->hdr, *e = c->hdr + hlen, *l;
	long long cl = -1;

	if (hlen < 12 || strncmp(p, "HTTP/1.", 7) != 0)
		return -1;
	c->status = atoi(p + 9);
	while ((l = memchr(p, '\n', (size_t)(e - p))) != NULL && l + 1 < e) {
		p = l + 1;
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			cl = atoll(p + 15);
		else if (strncasecmp(p, "Transfer-Encoding:", 18) == 0)
			return -1;	/* not used by either server here */
	}
	if (cl < 0)
		cl = 0;		/* 304 */
	c->need = cl - (long long)(c->have - hlen);
	return 0;
}

static void
done(int ep, struct conn *c)
{
	double dt = now() - c->t0;
	int want = use_etag ? 304 : 200;

	nreq++;
	if (c->status == want) {
		if (nlat < maxreq)
			lat[nlat++] = (uint32_t)(dt * 1e6);
	} else
		nother++;
	(void)ep;
	build(c);
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[256];
	struct conn *conns;
	double secs = 5, t0, t1;
	int nconns = 16, ch, ep;
	char *line = NULL, *tab, hostbuf[64];
	size_t cap = 0, linecap = 0;
	ssize_t ll;
	FILE *f;

	maxreq = 2000000;
	while ((ch = getopt(argc, argv, "c:d:n:ega:")) != -1) {
		switch (ch) {
		case 'c': nconns = atoi(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'n': maxreq = (size_t)atoll(optarg); break;
		case 'e': use_etag = 1; break;
		case 'g': use_gzip = 1; break;
		case 'a': accept_hdr = optarg; break;
		default: goto usage;
		}
	}
	if (argc - optind != 2 || nconns < 1 || nconns > MAX_CONNS ||
	    secs <= 0 || secs > MAX_SECONDS || maxreq < 1)
		goto usage;
	snprintf(hostbuf, sizeof(hostbuf), "%s", argv[optind]);
	if ((tab = strrchr(hostbuf, ':')) == NULL)
		goto usage;
	*tab = '\0';
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)atoi(tab + 1));
	if (inet_pton(AF_INET, hostbuf, &addr.sin_addr) != 1 ||
	    (ntohl(addr.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "mdq-load: only 127.0.0.0/8 targets\n");
		return 2;
	}
	host = argv[optind];
	if ((f = fopen(argv[optind + 1], "r")) == NULL) {
		perror(argv[optind + 1]);
		return 2;
	}
	while ((ll = getline(&line, &linecap, f)) > 0) {
		while (ll > 0 && (line[ll - 1] == '\n' || line[ll - 1] == '\r'))
			line[--ll] = '\0';
		if (ll == 0)
			continue;
		if (npaths == cap) {
			cap = cap ? cap * 2 : 1024;
			paths = realloc(paths, cap * sizeof(*paths));
			etags = realloc(etags, cap * sizeof(*etags));
			if (paths == NULL || etags == NULL)
				return 2;
		}
		tab = strchr(line, '\t');
		if (tab != NULL)
			*tab++ = '\0';
		paths[npaths] = strdup(line);
		etags[npaths] = tab ? strdup(tab) : NULL;
		npaths++;
	}
	fclose(f);
	if (npaths == 0) {
		fprintf(stderr, "mdq-load: no paths\n");
		return 2;
	}
	lat = malloc(maxreq * sizeof(*lat));
	conns = calloc((size_t)nconns, sizeof(*conns));
	if (lat == NULL || conns == NULL || (ep = epoll_create1(0)) < 0)
		return 2;
	for (int i = 0; i < nconns; i++)
		if (connect_one(ep, &conns[i]) < 0) {
			perror("mdq-load: connect");
			return 1;
		}
	t0 = now();
	while (nreq < maxreq && now() - t0 < secs) {
		int n = epoll_wait(ep, evs, 256, 100);

		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			char sink[65536], *end;
			ssize_t r;

			if (evs[i].events & (EPOLLERR | EPOLLHUP) &&
			    !(evs[i].events & EPOLLIN)) {
				nerr++;
				reconnect(ep, c);
				continue;
			}
			while (c->sent < c->reqlen) {
				r = send(c->fd, c->req + c->sent,
				    c->reqlen - c->sent, MSG_NOSIGNAL);
				if (r < 0)
					break;
				c->sent += (size_t)r;
			}
			if (c->sent < c->reqlen && errno != EAGAIN) {
				nerr++;
				reconnect(ep, c);
				continue;
			}
			for (;;) {
				if (c->need < 0) {
					r = recv(c->fd, c->hdr + c->have,
					    sizeof(c->hdr) - 1 - c->have, 0);
				} else {
					size_t want = c->need < (long long)
					    sizeof(sink) ? (size_t)c->need :
					    sizeof(sink);

					if (want == 0) {
						done(ep, c);
						break;
					}
					r = recv(c->fd, sink, want, 0);
				}
				if (r == 0 || (r < 0 && errno != EAGAIN)) {
					nerr++;
					reconnect(ep, c);
					break;
				}
				if (r < 0)
					break;
				if (c->need >= 0) {
					c->need -= r;
					if (c->need == 0) {
						done(ep, c);
						/* send the next at once */
						r = send(c->fd, c->req,
						    c->reqlen, MSG_NOSIGNAL);
						if (r > 0)
							c->sent = (size_t)r;
					}
					continue;
				}
				c->have += (size_t)r;
				c->hdr[c->have] = '\0';
				if ((end = strstr(c->hdr, "\r\n\r\n")) == NULL) {
					if (c->have + 1 >= sizeof(c->hdr)) {
						nerr++;
						reconnect(ep, c);
						break;
					}
					continue;
				}
				if (parse_head(c, (size_t)(end + 4 - c->hdr))
				    < 0) {
					nerr++;
					reconnect(ep, c);
					break;
				}
				if (c->need <= 0) {
					done(ep, c);
					r = send(c->fd, c->req, c->reqlen,
					    MSG_NOSIGNAL);
					if (r > 0)
						c->sent = (size_t)r;
				}
			}
		}
	}
	t1 = now();
	qsort(lat, nlat, sizeof(*lat), cmp_u32);
	printf("requests=%llu seconds=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f "
	    "ok=%zu other=%llu errors=%llu\n", nreq, t1 - t0, nreq / (t1 - t0),
	    nlat ? lat[nlat / 2] / 1000.0 : 0, nlat ? lat[nlat * 99 / 100] /
	    1000.0 : 0, nlat, nother, nerr);
	return 0;
usage:
	fprintf(stderr, "usage: mdq-load [-c CONNS] [-d SECONDS] [-n MAX] [-e] "
	    "[-g] [-a ACCEPT] ADDR:PORT PATHS\n");
	return 2;
}
