#include "cli/cli.h"

int
cmd_keygen(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return FS_EINTERNAL;
}
