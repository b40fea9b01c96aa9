#include "util/secret.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void
fs_wipe(void *p, size_t len)
{
	if (p != NULL && len > 0)
		OPENSSL_cleanse(p, len);
}

void
fs_secret_free(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}
