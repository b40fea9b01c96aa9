/* Reports: what a run did and found, as JSON, and a human summary. */
#include "publish/publish_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedsign/file.h"
#include "fedsign/util.h"

static const char *const level_names[] = { "info", "warn", "error" };

void
fs_report_set_time(json_t *o, const char *key, time_t t)
{
	char buf[32];

	fs_time_format(t, buf, sizeof(buf));
	json_object_set_new(o, key, json_string(buf));
}

double
fs_elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	    (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

fs_report *
fs_report_new(const char *command, time_t now)
{
	fs_report *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if (pthread_mutex_init(&r->lock, NULL) != 0) {
		free(r);
		return NULL;
	}
	r->root = json_object();
	r->sources = json_array();
	r->feeds = json_array();
	r->findings = json_array();
	r->timings = json_object();
	if (r->root == NULL || r->sources == NULL || r->feeds == NULL ||
	    r->findings == NULL || r->timings == NULL) {
		json_decref(r->sources);
		json_decref(r->feeds);
		json_decref(r->findings);
		json_decref(r->timings);
		json_decref(r->root);
		pthread_mutex_destroy(&r->lock);
		free(r);
		return NULL;
	}
	json_object_set_new(r->root, "fedsign", json_string(FEDSIGN_VERSION));
	json_object_set_new(r->root, "command", json_string(command));
	fs_report_set_time(r->root, "started", now);
	json_object_set(r->root, "sources", r->sources);
	json_object_set(r->root, "feeds", r->feeds);
	json_object_set(r->root, "findings", r->findings);
	json_object_set(r->root, "timings", r->timings);
	return r;
}

void
fs_report_free(fs_report *r)
{
	if (r == NULL)
		return;
	json_decref(r->sources);
	json_decref(r->feeds);
	json_decref(r->findings);
	json_decref(r->timings);
	json_decref(r->root);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void
fs_report_set(fs_report *r, const char *key, const char *value)
{
	if (r != NULL)
		json_object_set_new(r->root, key, value ? json_string(value) :
		    json_null());
}

void
fs_report_set_int(fs_report *r, const char *key, long long value)
{
	if (r != NULL)
		json_object_set_new(r->root, key, json_integer(value));
}

void
fs_report_finding(fs_report *r, enum fs_level level, const char *rule,
    const char *entity_id, const char *source, const char *file,
    unsigned long line, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	json_t *f;

	if (r == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Messages quote documents: keep only valid UTF-8 for JSON. */
	if ((f = json_object()) == NULL)
		return;
	json_object_set_new(f, "level", json_string(level_names[level]));
	if (rule != NULL)
		json_object_set_new(f, "rule", json_string(rule));
	if (entity_id != NULL)
		json_object_set_new(f, "entityID", json_string(entity_id));
	if (source != NULL)
		json_object_set_new(f, "source", json_string(source));
	if (file != NULL)
		json_object_set_new(f, "file", json_string(file));
	if (line > 0)
		json_object_set_new(f, "line", json_integer((json_int_t)line));
	if (json_object_set_new(f, "message", json_string(msg)) != 0)
		json_object_set_new(f, "message",
		    json_string("(a message that is not UTF-8)"));
	pthread_mutex_lock(&r->lock);
	json_array_append_new(r->findings, f);
	if (level == FS_LEVEL_ERROR)
		r->errors++;
	else if (level == FS_LEVEL_WARN)
		r->warnings++;
	else
		r->infos++;
	pthread_mutex_unlock(&r->lock);
}

int
fs_report_write(const fs_report *r, const char *path, fs_err *err)
{
	char *text;
	int rc;

	json_object_set_new(r->root, "counts", json_pack("{s:I,s:I,s:I}",
	    "errors", (json_int_t)r->errors, "warnings",
	    (json_int_t)r->warnings, "infos", (json_int_t)r->infos));
	if ((text = json_dumps(r->root, JSON_INDENT(2) | JSON_PRESERVE_ORDER))
	    == NULL)
		return fs_err_nomem(err, "writing the report");
	if (strcmp(path, "-") == 0) {
		rc = fs_write_all(1, text, strlen(text), "<stdout>", err);
		if (rc == FS_OK)
			rc = fs_write_all(1, "\n", 1, "<stdout>", err);
	} else {
		size_t n = strlen(text);

		text[n] = '\n';
		rc = fs_write_file_atomic(path, text, n + 1, 0, err);
		text[n] = '\0';
	}
	free(text);
	return rc;
}

static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static long long
num(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

void
fs_report_summary(const fs_report *r, void (*line)(void *, const char *),
    void *ctx)
{
	char buf[1024];
	size_t i;
	json_t *o;

	json_array_foreach(r->sources, i, o) {
		char count[64] = "";

		if (num(o, "entities") > 0 || json_object_get(o, "files"))
			snprintf(count, sizeof(count), ", %lld entities",
			    num(o, "entities"));
		snprintf(buf, sizeof(buf), "source %s: %s%s%s%s",
		    str(o, "name"), *str(o, "status") ? str(o, "status") :
		    "not read", count,
		    json_object_get(o, "reason") ? ": " : "",
		    str(o, "reason"));
		line(ctx, buf);
	}
	json_array_foreach(r->feeds, i, o) {
		snprintf(buf, sizeof(buf), "feed %s: %lld entities (%lld added, "
		    "%lld removed)%s%s", str(o, "file"), num(o, "entities"),
		    num(o, "added"), num(o, "removed"),
		    json_object_get(o, "validUntil") ? ", validUntil " : "",
		    str(o, "validUntil"));
		line(ctx, buf);
	}
	if ((o = json_object_get(r->root, "mdq")) != NULL) {
		snprintf(buf, sizeof(buf), "mdq: %lld entities (%lld new, %lld "
		    "changed, %lld unchanged, %lld removed), %lld signatures "
		    "(%lld renewals)", num(o, "entities"), num(o, "new"),
		    num(o, "changed"), num(o, "unchanged"), num(o, "removed"),
		    num(o, "signatures"), num(o, "renewed"));
		if (json_object_get(o, "signaturesPerSecond") != NULL) {
			size_t n = strlen(buf);

			snprintf(buf + n, sizeof(buf) - n, " at %.1f/s on %lld "
			    "session%s", json_real_value(json_object_get(o,
			    "signaturesPerSecond")), num(o, "workers"),
			    num(o, "workers") == 1 ? "" : "s");
		}
		line(ctx, buf);
	}
	snprintf(buf, sizeof(buf), "%lu errors, %lu warnings, %lu notes%s%s",
	    r->errors, r->warnings, r->infos,
	    json_object_get(r->root, "outcome") ? "; " : "",
	    str(r->root, "outcome"));
	line(ctx, buf);
}

void
fs_report_findings(const fs_report *r, void (*each)(void *, enum fs_level,
    const char *, const char *, const char *, unsigned long, const char *),
    void *ctx)
{
	size_t i;
	json_t *o;

	json_array_foreach(r->findings, i, o) {
		const char *l = str(o, "level");
		enum fs_level level = strcmp(l, "error") == 0 ? FS_LEVEL_ERROR :
		    strcmp(l, "warn") == 0 ? FS_LEVEL_WARN : FS_LEVEL_INFO;

		each(ctx, level, json_object_get(o, "rule") ? str(o, "rule") :
		    NULL, json_object_get(o, "entityID") ? str(o, "entityID") :
		    NULL, json_object_get(o, "file") ? str(o, "file") : NULL,
		    (unsigned long)num(o, "line"), str(o, "message"));
	}
}

static int
by_place(const void *a, const void *b)
{
	const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
	int c;

	if ((c = strcmp(str(x, "file"), str(y, "file"))) != 0)
		return c;
	if (num(x, "line") != num(y, "line"))
		return num(x, "line") < num(y, "line") ? -1 : 1;
	if ((c = strcmp(str(x, "entityID"), str(y, "entityID"))) != 0)
		return c;
	if ((c = strcmp(str(x, "rule"), str(y, "rule"))) != 0)
		return c;
	return strcmp(str(x, "message"), str(y, "message"));
}

void
fs_report_sort(fs_report *r)
{
	size_t n = json_array_size(r->findings), i;
	json_t **v, *o;

	if (n < 2 || (v = malloc(n * sizeof(*v))) == NULL)
		return;
	json_array_foreach(r->findings, i, o)
		v[i] = json_incref(o);
	qsort(v, n, sizeof(*v), by_place);
	json_array_clear(r->findings);
	for (i = 0; i < n; i++)
		json_array_append_new(r->findings, v[i]);
	free(v);
}
