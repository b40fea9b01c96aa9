/* The attributes and extensions a publisher stamps on metadata. */
#include "fedsign/md.h"

#include <stdio.h>
#include <string.h>

#include "fedsign/util.h"

static xmlNsPtr
md_ns(xmlNodePtr root)
{
	xmlNsPtr ns = xmlSearchNsByHref(root->doc, root, BAD_CAST FS_NS_MD);

	return ns != NULL ? ns : root->ns;
}

/* The root's md:Extensions, made as its first child (after a Signature). */
static xmlNodePtr
extensions(xmlNodePtr root)
{
	xmlNodePtr first = NULL, ext, c;

	for (c = root->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE ||
		    fs_md_is(c, FS_NS_DS, "Signature"))
			continue;
		first = c;
		break;
	}
	if (first != NULL && fs_md_is(first, FS_NS_MD, "Extensions"))
		return first;
	ext = xmlNewDocNode(root->doc, md_ns(root), BAD_CAST "Extensions",
	    NULL);
	if (ext == NULL)
		return NULL;
	if (first != NULL)
		xmlAddPrevSibling(first, ext);
	else
		xmlAddChild(root, ext);
	return ext;
}

static int
set_publication_info(xmlNodePtr root, const char *publisher, time_t when,
    const char *pubid, fs_err *err)
{
	xmlNodePtr ext, pi = NULL, c;
	xmlNsPtr rpi;
	char instant[32], idbuf[64];

	if ((ext = extensions(root)) == NULL)
		goto oom;
	for (c = ext->children; c != NULL; c = c->next)
		if (fs_md_is(c, FS_NS_MDRPI, "PublicationInfo"))
			pi = c;
	if (pi == NULL) {
		if ((pi = xmlNewDocNode(root->doc, NULL,
		    BAD_CAST "PublicationInfo", NULL)) == NULL)
			goto oom;
		rpi = xmlSearchNsByHref(root->doc, ext, BAD_CAST FS_NS_MDRPI);
		if (rpi == NULL)
			rpi = xmlNewNs(pi, BAD_CAST FS_NS_MDRPI, BAD_CAST "mdrpi");
		if (rpi == NULL) {
			xmlFreeNode(pi);
			goto oom;
		}
		xmlSetNs(pi, rpi);
		xmlAddChild(ext, pi);
	}
	fs_time_format(when, instant, sizeof(instant));
	if (pubid == NULL) {
		snprintf(idbuf, sizeof(idbuf), "fedsign-%lld", (long long)when);
		pubid = idbuf;
	}
	if (xmlSetProp(pi, BAD_CAST "publisher", BAD_CAST publisher) == NULL ||
	    xmlSetProp(pi, BAD_CAST "creationInstant", BAD_CAST instant) ==
	    NULL || xmlSetProp(pi, BAD_CAST "publicationId", BAD_CAST pubid) ==
	    NULL)
		goto oom;
	return FS_OK;
oom:
	return fs_err_nomem(err, "adding PublicationInfo");
}

int
fs_md_finalise(xmlNodePtr root, const struct fs_md_final *f, fs_err *err)
{
	char buf[64];
	time_t vu;
	int r, rc;

	if (f->valid_until > 0 || f->valid_for > 0) {
		vu = f->valid_until > 0 ? f->valid_until :
		    f->now + (time_t)f->valid_for;
		fs_time_format(vu, buf, sizeof(buf));
		if ((rc = fs_md_set_attr(root, "validUntil", buf, err)) != FS_OK)
			return rc;
	} else if ((r = fs_md_valid_until(root, &vu)) <= 0 || vu <= f->now) {
		return fs_err_rule(err, FS_RULE_VALIDITY, "%s: give a validity "
		    "(--valid-for 14d): fedsign never publishes metadata "
		    "without a validUntil in the future", r == 0 ? "the input "
		    "has no validUntil" : r < 0 ? "the input's validUntil is "
		    "not a valid dateTime" : "the input's validUntil has "
		    "passed");
	}
	if (f->cache_duration > 0) {
		fs_duration_format(f->cache_duration, buf, sizeof(buf));
		if ((rc = fs_md_set_attr(root, "cacheDuration", buf, err)))
			return rc;
	}
	if (f->name != NULL) {
		if (!fs_md_is(root, FS_NS_MD, "EntitiesDescriptor"))
			return fs_err_set(err, FS_EUSAGE, "a Name applies to an "
			    "EntitiesDescriptor aggregate, not to a single "
			    "EntityDescriptor");
		if ((rc = fs_md_set_attr(root, "Name", f->name, err)) != FS_OK)
			return rc;
	}
	if (f->publisher != NULL)
		return set_publication_info(root, f->publisher, f->now,
		    f->publication_id, err);
	return FS_OK;
}
