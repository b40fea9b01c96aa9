#include "cli/cli.h"

int
cmd_verify(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fs_cli_warn("verify: not built yet");
	return FS_EINTERNAL;
}
