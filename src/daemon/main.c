/*
 * fedsignd -c CONFIG [-d] [-n] [-v]
 *
 * Start-up, in this order: no core dumps and not dumpable (a PIN or a
 * session must not end up in a core file or be read by ptrace), the
 * configuration, the background (unless -d), the audit log, the sockets,
 * the tokens (one login each, PINs read from their files and wiped),
 * then privileges are dropped to the configured user, and only then do
 * the workers and the HTTP servers start.  SIGHUP reloads the
 * configuration without dropping a request; SIGTERM stops accepting,
 * answers what is under way, closes the sessions and exits 0.
 */
#include "daemon/fedsignd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fedsign/util.h"

#define DEFAULT_CONFIG	"/etc/fedsignd/fedsignd.yaml"

static const char usage_text[] =
"usage: fedsignd [-dnv] [-c config]\n"
"  -c config  the configuration (default " DEFAULT_CONFIG ")\n"
"  -d         stay in the foreground, messages to stderr\n"
"  -n         check the configuration and exit\n"
"  -v         verbose: log each request (twice: libmicrohttpd too)\n";

static const char *config_path = DEFAULT_CONFIG;
static int ready_fd = -1;
static int had_env_pin;
static struct fsd_listener *listeners[16];
static size_t nlisteners;
static SSL_CTX *tls_ctx;

/* --- start-up ------------------------------------------------------------- */

/*
 * A start that fails once the sockets are made: their files go, so that
 * nothing looks as if a fedsignd listened there.
 */
static void __attribute__((noreturn))
start_failed(const struct fsd_conf *c, const char *msg)
{
	for (size_t i = 0; i < nlisteners && i < c->nlisten; i++)
		if (c->listen[i].kind == FSD_UNIX)
			(void)unlink(c->listen[i].path);
	fatalx("%s", msg);
}

static void
secure_start(void)
{
	static const struct rlimit none = { 0, 0 };
	char *env = getenv("FEDSIGN_PIN");

	(void)setrlimit(RLIMIT_CORE, &none);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	umask(027);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	/* Not used, and not left in /proc/PID/environ either. */
	if (env != NULL) {
		size_t n = strlen(env);

		fs_wipe(env, n);
		if (memcmp(env - sizeof("FEDSIGN_PIN"), "FEDSIGN_PIN=",
		    sizeof("FEDSIGN_PIN")) == 0)
			fs_wipe(env - sizeof("FEDSIGN_PIN"),
			    sizeof("FEDSIGN_PIN"));
		unsetenv("FEDSIGN_PIN");
		had_env_pin = 1;
	}
}

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void
notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (n = strlen(path)) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	(void)sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un,
	    sun_path) + n));
	close(fd);
}

/*
 * Into the background before anything else starts (PKCS#11 modules do
 * not survive a fork): the parent waits until the child is ready, prints
 * what went wrong, and exits 0 only when it came up.
 */
static void
daemonize(void)
{
	char buf[4096];
	int p[2], nul, ok = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		fatalx("pipe: %s", strerror(errno));
	if ((pid = fork()) == -1)
		fatalx("fork: %s", strerror(errno));
	if (pid > 0) {
		close(p[1]);
		while ((n = read(p[0], buf, sizeof(buf))) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			if (buf[n - 1] == '\001') {
				ok = 1;
				n--;
			}
			(void)!write(STDERR_FILENO, buf, (size_t)n);
		}
		_exit(ok ? 0 : 1);
	}
	close(p[0]);
	if (setsid() == -1)
		fatalx("setsid: %s", strerror(errno));
	if (chdir("/") == -1)
		fatalx("chdir /: %s", strerror(errno));
	if ((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
		dup2(nul, STDIN_FILENO);
		dup2(nul, STDOUT_FILENO);
		dup2(nul, STDERR_FILENO);
		if (nul > STDERR_FILENO)
			close(nul);
	}
	ready_fd = p[1];
	fsd_log_startup_fd(ready_fd);
}

static void
ready(void)
{
	if (ready_fd != -1) {
		fsd_log_startup_fd(-1);
		(void)!write(ready_fd, "\001", 1);
		close(ready_fd);
		ready_fd = -1;
	}
	notify("READY=1");
}

static void
drop_privileges(const struct fsd_conf *c)
{
	struct passwd *pw;
	struct group *gr;
	gid_t gid;

	if (c->user != NULL) {
		if ((pw = getpwnam(c->user)) == NULL)
			fatalx("user '%s': no such user", c->user);
		gid = pw->pw_gid;
		if (c->group != NULL) {
			if ((gr = getgrnam(c->group)) == NULL)
				fatalx("group '%s': no such group", c->group);
			gid = gr->gr_gid;
		}
		if (geteuid() != 0) {
			if (pw->pw_uid != geteuid())
				fatalx("not started as root: cannot become user "
				    "'%s'", c->user);
		} else {
			if (initgroups(pw->pw_name, gid) == -1 ||
			    setresgid(gid, gid, gid) == -1 ||
			    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
				fatalx("cannot become user '%s': %s", c->user,
				    strerror(errno));
			if (setuid(0) != -1 || seteuid(0) != -1)
				fatalx("could become root again after dropping "
				    "privileges");
			log_info("running as user '%s' (uid %u, gid %u)",
			    c->user, (unsigned)pw->pw_uid, (unsigned)gid);
		}
	}
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* -n: what can be checked without touching a token. */
static int
check_only(const struct fsd_conf *c)
{
	struct fsd_clients *cl = NULL;
	SSL_CTX *ctx = NULL;
	fs_err err;
	int bad = 0;

	if (c->user != NULL && getpwnam(c->user) == NULL) {
		fprintf(stderr, "fedsignd: %s: user '%s': no such user\n",
		    c->path, c->user);
		bad = 1;
	}
	if (c->group != NULL && getgrnam(c->group) == NULL) {
		fprintf(stderr, "fedsignd: %s: group '%s': no such group\n",
		    c->path, c->group);
		bad = 1;
	}
	if (c->socket_group != NULL && getgrnam(c->socket_group) == NULL) {
		fprintf(stderr, "fedsignd: %s: socket-group '%s': no such "
		    "group\n", c->path, c->socket_group);
		bad = 1;
	}
	if (c->clients_file != NULL) {
		if (fsd_clients_load(c->clients_file, &cl, &err) != FS_OK) {
			fprintf(stderr, "fedsignd: %s\n", err.msg);
			bad = 1;
		}
		fsd_clients_free(cl);
	}
	if (c->tls_cert != NULL) {
		if (fsd_tls_ctx(c->tls_cert, c->tls_key, &ctx, &err) != FS_OK) {
			fprintf(stderr, "fedsignd: %s\n", err.msg);
			bad = 1;
		}
		SSL_CTX_free(ctx);
	}
	if (fsd_pool_check(c, &err) != FS_OK) {
		fprintf(stderr, "fedsignd: %s\n", err.msg);
		bad = 1;
	}
	if (bad)
		return 1;
	fprintf(stderr, "fedsignd: %s: configuration OK\n", c->path);
	return 0;
}

static struct fsd_pool_opts
pool_opts(const struct fsd_conf *c)
{
	struct fsd_pool_opts o = { c->health_interval, c->retry_interval,
	    c->token_timeout };

	return o;
}

/* --- reload and stop ------------------------------------------------------ */

static int
same_listen(const struct fsd_conf *a, const struct fsd_conf *b)
{
	if (a->nlisten != b->nlisten || a->socket_mode != b->socket_mode ||
	    (a->socket_group == NULL) != (b->socket_group == NULL) ||
	    (a->socket_group && strcmp(a->socket_group, b->socket_group)) ||
	    (a->tls_cert == NULL) != (b->tls_cert == NULL) ||
	    (a->tls_cert && (strcmp(a->tls_cert, b->tls_cert) ||
	    strcmp(a->tls_key, b->tls_key))) ||
	    a->max_connections != b->max_connections ||
	    a->request_timeout != b->request_timeout)
		return 0;
	for (size_t i = 0; i < a->nlisten; i++)
		if (strcmp(a->listen[i].spec, b->listen[i].spec) != 0 ||
		    a->listen[i].tls != b->listen[i].tls ||
		    a->listen[i].auth != b->listen[i].auth)
			return 0;
	return 1;
}

static void
reload(void)
{
	struct fsd_conf *nc = NULL;
	struct fsd_clients *cl = NULL;
	struct fsd_keyset *ks = NULL;
	struct fsd_gen *g, *old;
	fs_err err;

	notify("RELOADING=1");
	log_info("reloading %s", config_path);
	if (fsd_conf_load(config_path, &nc, &err) != FS_OK) {
		log_errx("reload refused, the running configuration stays: %s",
		    err.msg);
		goto out;
	}
	old = fsd_gen_get();
	if (!same_listen(old->conf, nc))
		log_warnx("reload: changes to listen, socket-group, "
		    "socket-mode, tls-cert, tls-key, max-connections and "
		    "request-timeout take effect at the next restart");
	if ((old->conf->user == NULL) != (nc->user == NULL) ||
	    (nc->user && strcmp(old->conf->user, nc->user)) ||
	    (old->conf->group == NULL) != (nc->group == NULL) ||
	    (nc->group && strcmp(old->conf->group, nc->group)))
		log_warnx("reload: user and group take effect at the next "
		    "restart");
	if (nc->clients_file != NULL &&
	    fsd_clients_load(nc->clients_file, &cl, &err) != FS_OK) {
		fsd_gen_put(old);
		log_errx("reload refused, the running configuration stays: %s",
		    err.msg);
		goto out;
	}
	if (fsd_audit_open(nc->audit_log, &err) != FS_OK)
		log_warnx("reload: %s: the audit log stays where it was",
		    err.msg);
	fsd_pool_set_opts(&(struct fsd_pool_opts){ nc->health_interval,
	    nc->retry_interval, nc->token_timeout });
	if (fsd_keyset_open(nc, old->ks, &ks, &err) != FS_OK) {
		fsd_pool_set_opts(&(struct fsd_pool_opts){
		    old->conf->health_interval, old->conf->retry_interval,
		    old->conf->token_timeout });
		fsd_gen_put(old);
		log_errx("reload refused, the running configuration stays: %s",
		    err.msg);
		goto out;
	}
	fsd_gen_put(old);
	fsd_keyset_start(ks);
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		fsd_keyset_close(ks, NULL);
		log_errx("reload refused: out of memory");
		goto out;
	}
	g->refs = 1;
	g->conf = nc;
	g->ks = ks;
	g->clients = cl;
	nc = NULL;
	cl = NULL;
	old = fsd_gen_swap(g);
	/* Requests under way finish with what they started with. */
	if (fsd_gen_retire(old)) {
		fsd_keyset_close(old->ks, ks);
		fsd_clients_free(old->clients);
		fsd_conf_free(old->conf);
		free(old);
	} else {
		log_warnx("reload: a request is stuck in a call into a module; "
		    "the configuration it started with is kept for it");
	}
	log_info("reloaded %s: %zu key%s", config_path, fsd_keyset_count(ks),
	    fsd_keyset_count(ks) == 1 ? "" : "s");
out:
	fsd_clients_free(cl);
	fsd_conf_free(nc);
	notify("READY=1");
}

static void
stop(void)
{
	struct timespec tick = { 0, 50000000L };
	struct fsd_gen *g;
	int64_t waited = 0, limit;
	unsigned left;
	int kept;

	notify("STOPPING=1");
	log_info("stopping: no new connections; answering those under way");
	for (size_t i = 0; i < nlisteners; i++)
		fsd_listen_quiesce(listeners[i]);
	fsd_http_draining();
	g = fsd_gen_get();
	limit = (g->conf->token_timeout * 3 + 10) * 20;
	fsd_gen_put(g);
	while (fsd_http_active() > fsd_pool_stuck_requests() &&
	    waited++ < limit)
		nanosleep(&tick, NULL);
	if ((left = fsd_http_active()) == 0) {
		for (size_t i = 0; i < nlisteners; i++)
			fsd_listen_free(listeners[i]);
	} else {
		/* Stopping the listeners would wait for their threads. */
		log_warnx("%u request%s stuck in a call into a module: "
		    "stopping without %s", left, left == 1 ? " is" : "s are",
		    left == 1 ? "it" : "them");
	}
	g = fsd_gen_swap(NULL);
	kept = !fsd_gen_retire(g);
	/* Log out and close every session (a stuck key's are left). */
	fsd_keyset_close(g->ks, NULL);
	fsd_pool_release_modules();
	if (!kept) {
		fsd_clients_free(g->clients);
		fsd_conf_free(g->conf);
		free(g);
	}
	SSL_CTX_free(tls_ctx);
	fsd_audit_close();
	log_info("stopped");
}

int
main(int argc, char **argv)
{
	struct fsd_conf *conf = NULL;
	struct fsd_clients *clients = NULL;
	struct fsd_keyset *ks = NULL;
	struct fsd_pool_opts po;
	struct fsd_gen *g;
	sigset_t set;
	int ch, foreground = 0, check = 0, verbose = 0, sig;
	char summary[1024];
	size_t used = 0;
	fs_err err;

	secure_start();
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	while ((ch = getopt_long(argc, argv, "c:dnvhV", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'd': foreground = 1; break;
		case 'n': check = 1; break;
		case 'v': verbose++; break;
		case 'h': fputs(usage_text, stdout); return 0;
		case 'V': puts("fedsignd " FEDSIGN_VERSION); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (optind < argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (fsd_conf_load(config_path, &conf, &err) != FS_OK) {
		fprintf(stderr, "fedsignd: %s\n", err.msg);
		return 1;
	}
	if (check) {
		int rc = check_only(conf);

		fsd_conf_free(conf);
		return rc;
	}
	fsd_log_init(foreground, verbose);
	if (!foreground)
		daemonize();
	if (had_env_pin)
		log_warnx("FEDSIGN_PIN is ignored (and was removed from the "
		    "environment): fedsignd reads each token's PIN from its "
		    "pin-source file");
	/* Signals are taken by the main thread alone. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (fsd_audit_open(conf->audit_log, &err) != FS_OK)
		fatalx("%s", err.msg);
	if (conf->clients_file != NULL &&
	    fsd_clients_load(conf->clients_file, &clients, &err) != FS_OK)
		fatalx("%s", err.msg);
	if (conf->tls_cert != NULL &&
	    fsd_tls_ctx(conf->tls_cert, conf->tls_key, &tls_ctx, &err) !=
	    FS_OK)
		fatalx("%s", err.msg);
	for (size_t i = 0; i < conf->nlisten; i++) {
		if (fsd_listen_open(conf, &conf->listen[i], tls_ctx,
		    &listeners[nlisteners], &err) != FS_OK)
			start_failed(conf, err.msg);
		nlisteners++;
	}
	po = pool_opts(conf);
	fsd_pool_set_opts(&po);
	if (fsd_pool_start(&err) != FS_OK)
		start_failed(conf, err.msg);
	if (fsd_keyset_open(conf, NULL, &ks, &err) != FS_OK)
		start_failed(conf, err.msg);
	drop_privileges(conf);

	if ((g = calloc(1, sizeof(*g))) == NULL)
		fatalx("out of memory");
	g->refs = 1;
	g->conf = conf;
	g->ks = ks;
	g->clients = clients;
	(void)fsd_gen_swap(g);
	fsd_keyset_start(ks);
	for (size_t i = 0; i < nlisteners; i++)
		if (fsd_listen_start(listeners[i], conf, &err) != FS_OK)
			fatalx("%s", err.msg);
	summary[0] = '\0';
	for (size_t i = 0; i < nlisteners && used + 8 < sizeof(summary); i++)
		used += (size_t)snprintf(summary + used, sizeof(summary) - used,
		    "%s%s", i ? ", " : "", fsd_listen_name(listeners[i]));
	log_info("fedsignd %s ready: %zu key%s, listening on %s",
	    FEDSIGN_VERSION, fsd_keyset_count(ks), fsd_keyset_count(ks) == 1 ?
	    "" : "s", summary);
	ready();

	for (;;) {
		if ((sig = sigwaitinfo(&set, NULL)) == -1) {
			if (errno == EINTR)
				continue;
			fatalx("sigwaitinfo: %s", strerror(errno));
		}
		if (sig == SIGHUP)
			reload();
		else
			break;
	}
	stop();
	return 0;
}
