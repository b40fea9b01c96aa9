/* Internals of src/dsig shared by its files. */
#ifndef FS_DSIG_INT_H
#define FS_DSIG_INT_H

#include <stdio.h>

/* The last error xmlsec1 reported (its callback keeps it here). */
extern char fs_dsig_last_xmlsec_error[512];

#define FS_ALG_C14N_EXC		"http://www.w3.org/2001/10/xml-exc-c14n#"
#define FS_ALG_C14N_EXC_WC	"http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
#define FS_ALG_C14N		"http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
#define FS_ALG_C14N_WC		"http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
#define FS_ALG_ENVELOPED	"http://www.w3.org/2000/09/xmldsig#enveloped-signature"
#define FS_ALG_SHA1		"http://www.w3.org/2000/09/xmldsig#sha1"
#define FS_ALG_SHA256		"http://www.w3.org/2001/04/xmlenc#sha256"
#define FS_ALG_SHA384		"http://www.w3.org/2001/04/xmldsig-more#sha384"
#define FS_ALG_SHA512		"http://www.w3.org/2001/04/xmlenc#sha512"
#define FS_ALG_RSA_SHA1		"http://www.w3.org/2000/09/xmldsig#rsa-sha1"
#define FS_ALG_RSA_SHA256	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define FS_ALG_RSA_SHA384	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
#define FS_ALG_RSA_SHA512	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
#define FS_ALG_ECDSA_SHA256	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
#define FS_ALG_ECDSA_SHA384	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
#define FS_ALG_ECDSA_SHA512	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"

#endif
