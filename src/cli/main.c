/* fedsign: sign and verify SAML metadata with a key in an HSM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} commands[] = {
	{ "token", cmd_token, "list tokens and objects; initialise a token" },
	{ "keygen", cmd_keygen, "generate the signing key pair on a token" },
	{ "cert", cmd_cert, "make or show the key's self-signed certificate" },
	{ "sign", cmd_sign, "sign SAML metadata" },
	{ "verify", cmd_verify, "verify signed SAML metadata strictly" },
	{ "publish", cmd_publish, "build, check, sign and publish the feeds" },
	{ "check", cmd_check, "run the publisher's checks on metadata files" },
	{ "serve", cmd_serve, "answer MDQ requests from the published tree" },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: fedsign <command> [options] [args]\n"
	    "       fedsign --help | --version\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nRun 'fedsign <command> --help' for a command's options.\n"
	    "Keys are named by PKCS#11 URIs (RFC 7512), e.g.\n"
	    "  'pkcs11:token=fed;object=md-signing?module-path=/usr/lib/"
	    "softhsm/libsofthsm2.so&pin-source=file:/etc/fedsign/pin'\n"
	    "PINs come from pin-source=file:PATH, FEDSIGN_PIN or a prompt;"
	    " never from the command line.\n"
	    "A PKCS#11 call that does not return within FEDSIGN_P11_TIMEOUT\n"
	    "seconds (default 60) ends the command with exit status 3.\n\n"
	    FS_EXIT_HELP);
}

int
main(int argc, char **argv)
{
	fs_err err;

	/* Before anything else: no core dumps, FEDSIGN_PIN out of environ. */
	fs_cli_secure_start();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("fedsign %s\n", FEDSIGN_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		if (fs_md_init(&err) != FS_OK)
			return fs_cli_fail(&err);
		fs_dsig_init();
		return commands[i].fn(argc - 1, argv + 1);
	}
	return fs_cli_usage(NULL, "unknown command '%s'", argv[1]);
}
