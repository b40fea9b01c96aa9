/*
 * The clients file: who may sign over TCP.  One client a line,
 *
 *   NAME SECRET [KEY,KEY...]
 *
 * with # comments and blank lines.  NAME goes into the audit log; SECRET
 * is the bearer secret the client sends (at least 16 characters); the
 * optional list names the keys it may use (all, without one).  Only the
 * SHA-256 of each secret is kept, and secrets are compared in constant
 * time.  The file may not be readable by others, as a PIN file.
 */
#include "daemon/fedsignd.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "fedsign/util.h"

#define MAX_FILE	(1 << 20)
#define MAX_CLIENTS	1000
#define MIN_SECRET	16

void
fsd_clients_free(struct fsd_clients *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].name);
		for (size_t j = 0; j < c->v[i].nkeys; j++)
			free(c->v[i].keys[j]);
		free(c->v[i].keys);
		fs_wipe(c->v[i].hash, sizeof(c->v[i].hash));
	}
	free(c->v);
	free(c);
}

static int
read_file(const char *path, char **buf, size_t *len, fs_err *err)
{
	struct stat st;
	char *b = NULL;
	size_t n = 0;
	ssize_t r;
	int fd, rc = FS_OK;

	*buf = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
	    O_NONBLOCK);
	if (fd == -1)
		return fs_err_set(err, FS_EIO, "cannot open clients file '%s': "
		    "%s", path, strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		rc = fs_err_set(err, FS_EUSAGE, "clients file '%s' is not a "
		    "regular file", path);
		goto out;
	}
	if (st.st_mode & 007) {
		rc = fs_err_set(err, FS_EUSAGE, "clients file '%s' can be read "
		    "by others (mode %04o): run 'chmod o-rwx %s' and consider "
		    "new secrets", path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_size > MAX_FILE) {
		rc = fs_err_set(err, FS_EUSAGE, "clients file '%s' is larger "
		    "than 1 MiB", path);
		goto out;
	}
	if ((b = malloc((size_t)st.st_size + 1)) == NULL) {
		rc = fs_err_nomem(err, "reading the clients file");
		goto out;
	}
	while (n < (size_t)st.st_size &&
	    (r = read(fd, b + n, (size_t)st.st_size - n)) != 0) {
		if (r == -1) {
			if (errno == EINTR)
				continue;
			rc = fs_err_set(err, FS_EIO, "cannot read clients file "
			    "'%s': %s", path, strerror(errno));
			goto out;
		}
		n += (size_t)r;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	b = NULL;
out:
	if (b != NULL) {
		fs_wipe(b, (size_t)st.st_size);
		free(b);
	}
	close(fd);
	return rc;
}

static int
parse_line(const char *path, unsigned line, char *s, struct fsd_client *cl,
    fs_err *err)
{
	char *name, *secret, *keys, *extra, *save = NULL;

	name = strtok_r(s, " \t", &save);
	secret = strtok_r(NULL, " \t", &save);
	keys = strtok_r(NULL, " \t", &save);
	extra = strtok_r(NULL, " \t", &save);
	if (secret == NULL || extra != NULL)
		return fs_err_set(err, FS_EUSAGE, "%s:%u: write 'NAME SECRET' "
		    "or 'NAME SECRET KEY,KEY'", path, line);
	if (!fsd_name_ok(name))
		return fs_err_set(err, FS_EUSAGE, "%s:%u: client name '%.64s': "
		    "use letters, digits, '.', '_' and '-'", path, line, name);
	if (strlen(secret) < MIN_SECRET)
		return fs_err_set(err, FS_EUSAGE, "%s:%u: the secret of client "
		    "'%s' is shorter than %d characters: make a long random "
		    "one (openssl rand -base64 32)", path, line, name,
		    MIN_SECRET);
	if ((cl->name = strdup(name)) == NULL)
		return fs_err_nomem(err, "reading the clients file");
	SHA256((const unsigned char *)secret, strlen(secret), cl->hash);
	if (keys == NULL)
		return FS_OK;
	for (char *k = strtok_r(keys, ",", &save); k != NULL;
	    k = strtok_r(NULL, ",", &save)) {
		char **v = realloc(cl->keys, (cl->nkeys + 1) * sizeof(*v));

		if (v == NULL)
			return fs_err_nomem(err, "reading the clients file");
		cl->keys = v;
		if (!fsd_name_ok(k))
			return fs_err_set(err, FS_EUSAGE, "%s:%u: key name "
			    "'%.64s' of client '%s' is not a key name", path,
			    line, k, name);
		if ((cl->keys[cl->nkeys] = strdup(k)) == NULL)
			return fs_err_nomem(err, "reading the clients file");
		cl->nkeys++;
	}
	return FS_OK;
}

int
fsd_clients_load(const char *path, struct fsd_clients **out, fs_err *err)
{
	struct fsd_clients *c;
	char *buf = NULL, *p, *nl;
	size_t len = 0;
	unsigned line = 0;
	int rc;

	*out = NULL;
	if ((rc = read_file(path, &buf, &len, err)) != FS_OK)
		return rc;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		rc = fs_err_nomem(err, "reading the clients file");
		goto out;
	}
	for (p = buf; p != NULL && *p != '\0'; p = nl) {
		char *s = p, *e;

		line++;
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (*s == '\0' || *s == '#')
			continue;
		if (c->n == MAX_CLIENTS) {
			rc = fs_err_set(err, FS_EUSAGE, "%s:%u: more than %d "
			    "clients", path, line, MAX_CLIENTS);
			goto out;
		}
		if (c->n % 16 == 0) {
			struct fsd_client *v = realloc(c->v, (c->n + 16) *
			    sizeof(*v));

			if (v == NULL) {
				rc = fs_err_nomem(err, "reading the clients "
				    "file");
				goto out;
			}
			c->v = v;
		}
		memset(&c->v[c->n], 0, sizeof(c->v[c->n]));
		rc = parse_line(path, line, s, &c->v[c->n], err);
		c->n++;
		if (rc != FS_OK)
			goto out;
		for (size_t i = 0; i + 1 < c->n; i++) {
			if (strcmp(c->v[i].name, c->v[c->n - 1].name) == 0) {
				rc = fs_err_set(err, FS_EUSAGE, "%s:%u: client "
				    "'%s' is given twice", path, line,
				    c->v[i].name);
				goto out;
			}
			if (CRYPTO_memcmp(c->v[i].hash, c->v[c->n - 1].hash,
			    32) == 0) {
				rc = fs_err_set(err, FS_EUSAGE, "%s:%u: client "
				    "'%s' has the secret of client '%s': give "
				    "each its own", path, line,
				    c->v[c->n - 1].name, c->v[i].name);
				goto out;
			}
		}
	}
	*out = c;
	c = NULL;
	rc = FS_OK;
out:
	fsd_clients_free(c);
	if (buf != NULL) {
		fs_wipe(buf, len);
		free(buf);
	}
	return rc;
}

const struct fsd_client *
fsd_clients_find(const struct fsd_clients *c, const char *secret, size_t len)
{
	const struct fsd_client *hit = NULL;
	unsigned char h[32];

	if (c == NULL || len == 0)
		return NULL;
	SHA256((const unsigned char *)secret, len, h);
	/* Every client is compared: the time does not say which matched. */
	for (size_t i = 0; i < c->n; i++)
		if (CRYPTO_memcmp(h, c->v[i].hash, sizeof(h)) == 0)
			hit = &c->v[i];
	fs_wipe(h, sizeof(h));
	return hit;
}

int
fsd_client_may(const struct fsd_client *cl, const char *key)
{
	if (cl == NULL || cl->keys == NULL)
		return 1;
	for (size_t i = 0; i < cl->nkeys; i++)
		if (strcmp(cl->keys[i], key) == 0)
			return 1;
	return 0;
}
