/* fedsign serve: the MDQ responder (placeholder until it is written). */
#include <stdio.h>

#include "cli/cli.h"

int
cmd_serve(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return fs_cli_usage("serve", "not built yet");
}
