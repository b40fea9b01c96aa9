#include "cli/cli.h"

int
cmd_token(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return FS_EINTERNAL;
}
