/* fedsign token list | init */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "fedsign/p11.h"

static const char list_help[] =
"usage: fedsign token list [--module PATH] [--login] [URI]\n"
"\n"
"List PKCS#11 modules, slots, tokens (label, serial, model, flags, PIN\n"
"state) and objects (class, label, id, key type and size, and for keys the\n"
"security attributes).  Secret values are never read.\n"
"\n"
"  --module PATH  use this PKCS#11 module (default: the URI's module-path,\n"
"                 or every module registered with p11-kit)\n"
"  --login        log in to show private objects (PIN from the URI's\n"
"                 pin-source, FEDSIGN_PIN, or a prompt)\n"
"  URI            only tokens matching this pkcs11: URI\n"
"\n" FS_EXIT_HELP;

static const char init_help[] =
"usage: fedsign token init --module PATH --label LABEL\n"
"                          --so-pin-source SRC --pin-source SRC\n"
"\n"
"Initialise an uninitialised token (for tokens that support C_InitToken,\n"
"such as SoftHSM2) and set its user PIN.  A token that already holds the\n"
"label is never re-initialised.  SRC is file:PATH (a file only its owner\n"
"can read) or prompt (asked twice, without echo).\n"
"\n"
"  --module PATH        the PKCS#11 module\n"
"  --label LABEL        the new token's label (at most 32 bytes)\n"
"  --so-pin-source SRC  where the new SO PIN comes from\n"
"  --pin-source SRC     where the new user PIN comes from\n"
"\n" FS_EXIT_HELP;

static const char *
class_str(CK_OBJECT_CLASS c)
{
	switch (c) {
	case CKO_PRIVATE_KEY: return "private key";
	case CKO_PUBLIC_KEY: return "public key";
	case CKO_CERTIFICATE: return "certificate";
	case CKO_SECRET_KEY: return "secret key";
	case CKO_DATA: return "data";
	default: return "other";
	}
}

static void
v_module(void *ctx, const char *name, const char *path, const CK_INFO *i)
{
	char desc[33], man[33];

	(void)ctx;
	char e1[256], e2[1024], e3[128], e4[128];

	fs_p11_trim(i->libraryDescription, sizeof(i->libraryDescription), desc);
	fs_p11_trim(i->manufacturerID, sizeof(i->manufacturerID), man);
	printf("module: %s\n  path: %s\n  library: %s (%s) %u.%u\n",
	    name[0] ? fs_escape(name, e1, sizeof(e1)) : "(unregistered)",
	    fs_escape(path, e2, sizeof(e2)),
	    fs_escape(desc, e3, sizeof(e3)),
	    fs_escape(man, e4, sizeof(e4)),
	    i->libraryVersion.major, i->libraryVersion.minor);
}

static void
v_slot(void *ctx, CK_SLOT_ID id, const CK_SLOT_INFO *si)
{
	char desc[65], e[256];

	(void)ctx;
	fs_p11_trim(si->slotDescription, sizeof(si->slotDescription), desc);
	printf("  slot %lu: %s%s\n", (unsigned long)id,
	    fs_escape(desc, e, sizeof(e)),
	    (si->flags & CKF_TOKEN_PRESENT) ? "" : " (no token)");
}

static void
v_token(void *ctx, const CK_TOKEN_INFO *ti)
{
	char label[33], serial[17], model[17], man[33], state[200];
	char el[160], es[80], em[80], ea[160], ul[100], us[60];

	(void)ctx;
	if (!(ti->flags & CKF_TOKEN_INITIALIZED)) {
		printf("    token: (not initialised; 'fedsign token init' "
		    "can initialise it)\n");
		return;
	}
	fs_p11_trim(ti->label, sizeof(ti->label), label);
	fs_p11_trim(ti->serialNumber, sizeof(ti->serialNumber), serial);
	fs_p11_trim(ti->model, sizeof(ti->model), model);
	fs_p11_trim(ti->manufacturerID, sizeof(ti->manufacturerID), man);
	fs_p11_pin_state(ti->flags, state, sizeof(state));
	printf("    token: %s\n      serial: %s\n      model: %s (%s)\n"
	    "      flags:%s%s%s%s%s\n      PIN state: %s\n",
	    fs_escape(label, el, sizeof(el)),
	    fs_escape(serial, es, sizeof(es)),
	    fs_escape(model, em, sizeof(em)),
	    fs_escape(man, ea, sizeof(ea)),
	    (ti->flags & CKF_TOKEN_INITIALIZED) ? " initialised" :
	    " NOT-initialised",
	    (ti->flags & CKF_USER_PIN_INITIALIZED) ? " user-PIN-set" : "",
	    (ti->flags & CKF_LOGIN_REQUIRED) ? " login-required" : "",
	    (ti->flags & CKF_PROTECTED_AUTHENTICATION_PATH) ? " PIN-pad" : "",
	    (ti->flags & CKF_WRITE_PROTECTED) ? " write-protected" : "",
	    state[0] ? state : "ok");
	printf("      URI: pkcs11:token=%s;serial=%s\n",
	    fs_cli_uri_escape(label, ul, sizeof(ul)),
	    fs_cli_uri_escape(serial, us, sizeof(us)));
}

static const char *
tri(int v)
{
	return v < 0 ? "?" : v ? "yes" : "no";
}

static void
v_object(void *ctx, const struct fs_p11_obj_info *o)
{
	char el[1024];

	(void)ctx;
	printf("      %s: label=%s id=%s", class_str(o->cls),
	    fs_escape(o->label, el, sizeof(el)), o->id);
	if (o->key_type == CKK_RSA)
		printf(" type=RSA-%u", o->bits);
	else if (o->key_type == CKK_EC)
		printf(" type=EC-P%u", o->bits);
	putchar('\n');
	if (o->cls == CKO_PRIVATE_KEY)
		printf("        sensitive=%s always-sensitive=%s extractable=%s "
		    "never-extractable=%s local=%s sign=%s decrypt=%s\n",
		    tri(o->sensitive), tri(o->always_sensitive),
		    tri(o->extractable), tri(o->never_extractable),
		    tri(o->local), tri(o->sign), tri(o->decrypt));
}

static void
v_problem(void *ctx, const char *what)
{
	(void)ctx;
	fs_cli_warn("%s", what);
}

static int
token_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "module", required_argument, NULL, 'm' },
		{ "login", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct fs_p11_visitor v = { NULL, v_module, v_slot, v_token,
	    v_object, v_problem };
	const char *module = NULL, *uri = NULL;
	int login = 0, c;
	fs_err err;

	optind = 1;
	while ((c = getopt_long(argc, argv, "m:lh", opts, NULL)) != -1) {
		switch (c) {
		case 'm': module = optarg; break;
		case 'l': login = 1; break;
		case 'h': fputs(list_help, stdout); return 0;
		default: return fs_cli_usage("token list", "bad option");
		}
	}
	if (optind < argc)
		uri = argv[optind++];
	if (optind < argc)
		return fs_cli_usage("token list", "unexpected argument '%s'",
		    argv[optind]);
	if (fs_p11_list(module, uri, login, &fs_cli_hooks, &v, &err) != FS_OK)
		return fs_cli_fail(&err);
	return 0;
}

static int
token_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "module", required_argument, NULL, 'm' },
		{ "label", required_argument, NULL, 'L' },
		{ "so-pin-source", required_argument, NULL, 'S' },
		{ "pin-source", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *module = NULL, *label = NULL, *so = NULL, *pin = NULL;
	fs_err err;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "m:L:S:P:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': module = optarg; break;
		case 'L': label = optarg; break;
		case 'S': so = optarg; break;
		case 'P': pin = optarg; break;
		case 'h': fputs(init_help, stdout); return 0;
		default: return fs_cli_usage("token init", "bad option");
		}
	}
	if (optind < argc)
		return fs_cli_usage("token init", "unexpected argument '%s'",
		    argv[optind]);
	if (module == NULL || label == NULL || so == NULL || pin == NULL)
		return fs_cli_usage("token init", "--module, --label, "
		    "--so-pin-source and --pin-source are required");
	if (fs_p11_init_token(module, label, so, pin, &fs_cli_hooks, &err) != FS_OK)
		return fs_cli_fail(&err);
	printf("initialised token '%s'; its URI: pkcs11:token=%s\n", label,
	    label);
	return 0;
}

int
cmd_token(int argc, char **argv)
{
	if (argc < 2)
		return fs_cli_usage("token", "which: list or init?");
	if (strcmp(argv[1], "list") == 0)
		return token_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "init") == 0)
		return token_init(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(list_help, stdout);
		fputc('\n', stdout);
		fputs(init_help, stdout);
		return 0;
	}
	return fs_cli_usage("token", "unknown token command '%s'", argv[1]);
}
