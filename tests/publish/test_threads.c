/*
 * The library on several threads at once: each thread parses its own
 * copy of a document, stamps it, signs it with the one shared signer,
 * verifies it, and publishes it through the verify-while-writing
 * pipeline (which starts a thread of its own).  Run natively, and under
 * helgrind by tests/cli/test_valgrind.sh, which passes the iteration
 * count.
 *
 * usage: test_threads KEY.pem CERT.pem IN.xml OUTDIR [THREADS [ROUNDS]]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedsign/dsig.h"
#include "fedsign/md.h"
#include "fedsign/publish.h"
#include "fedsign/signer.h"

static fs_signer *signer;
static const char *in, *outdir;
static int rounds;

struct job {
	int n;
	int failures;
	char msg[2048];
};

static void *
run(void *arg)
{
	struct job *j = arg;
	struct fs_sign_opts so = { 0 };
	struct fs_verify_opts vo = { 0 };
	struct fs_md_final fin = { 0 };
	char out[512];
	xmlDocPtr doc;
	fs_err err;

	for (int r = 0; r < rounds; r++) {
		fin.now = 1800000000 + j->n;
		fin.valid_for = 86400 * (1 + j->n);
		fin.publisher = "https://threads.example.org/";
		vo.key = fs_signer_pubkey(signer);
		vo.now = fin.now;
		snprintf(out, sizeof(out), "%s/out-%d.xml", outdir, j->n);
		if (fs_md_parse_file(in, NULL, &doc, &err) != FS_OK ||
		    fs_md_finalise(xmlDocGetRootElement(doc), &fin, &err) ||
		    fs_dsig_sign(doc, signer, &so, &err) != FS_OK ||
		    fs_dsig_verify(doc, &vo, NULL, &err) != FS_OK ||
		    fs_publish_doc(doc, &vo, out, &err) != FS_OK) {
			j->failures++;
			snprintf(j->msg, sizeof(j->msg), "%s", err.msg);
		}
		xmlFreeDoc(doc);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct job jobs[16];
	pthread_t th[16];
	int n, failures = 0;
	X509 *cert;
	fs_err err;

	if (argc < 5)
		return 2;
	in = argv[3];
	outdir = argv[4];
	n = argc > 5 ? atoi(argv[5]) : 4;
	rounds = argc > 6 ? atoi(argv[6]) : 5;
	if (n < 1 || n > 16 || rounds < 1)
		return 2;
	if (fs_md_init(&err) != FS_OK ||
	    fs_signer_open_pem(argv[1], &signer, &err) != FS_OK ||
	    fs_x509_load(argv[2], &cert, &err) != FS_OK ||
	    fs_signer_set_cert(signer, cert, &err) != FS_OK) {
		fprintf(stderr, "test_threads: %s\n", err.msg);
		return 1;
	}
	X509_free(cert);
	for (int i = 0; i < n; i++) {
		jobs[i] = (struct job){ i, 0, "" };
		if (pthread_create(&th[i], NULL, run, &jobs[i]) != 0)
			return 1;
	}
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		if (jobs[i].failures) {
			fprintf(stderr, "thread %d: %d failures: %s\n", i,
			    jobs[i].failures, jobs[i].msg);
			failures += jobs[i].failures;
		}
	}
	fs_signer_free(signer);
	printf("%d threads x %d rounds: %d failures\n", n, rounds, failures);
	return failures ? 1 : 0;
}
