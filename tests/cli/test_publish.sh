#!/bin/bash
# fedsign publish end to end, and fedsign check.
#
# Everything is real: a SoftHSM2 token key, used through the PKCS#11 shim
# (tests/p11/shim.c) so that logins and signatures can be counted; an
# upstream feed served over HTTP by tests/tools/mdserver.py (ETag and 304,
# hangs); generated aggregates and real files of tests/data/corpus as
# members; the project's rule files and the SAML schemas; and the
# consumers of tests/interop/consumers.sh (xmlsec1, OpenSAML samlsign,
# Shibboleth SP mdquery) on every feed.
#
# What each feed must hold is worked out independently of fedsign, by
# "md.py facts" below, from the inputs and the rules fedsign documents.
#
# The assertions are numbered by topic: 1 the first run (feeds, contents,
# validity, IDs), 2 nothing changed, 3 an HTTP source (304, a new copy),
# 4 a tampered upstream, 5 an expired last good copy, 6 a hanging server,
# 7 refusals, 8 --dry-run, 9 configuration errors, 10 token problems,
# 11 rules, 12 one entityID in two sources, 13 fedsign check, 14 DOCTYPEs,
# 15 a file: source rewritten while it is read, 16 keep-releases.
# Last, the PIN is in no output.  Takes about half a minute.
. "$SRCDIR/tests/lib.sh"
export LC_ALL=C
export TMPDIR=$TMP      # the harness's and the generator's temporary files go with ours

TOOLS=$SRCDIR/tests/tools
IOP=$SRCDIR/tests/interop
SHIM=${SHIM:-${BUILDDIR:-$(dirname "$FEDSIGN")}/tests/p11/libfs_p11shim.so}
SHIM=$(realpath -m "$SHIM")              # a relative module path is looked up in p11-kit's folder
FEDSIGN=$(realpath "$FEDSIGN")
MD=$TMP/md.py
FED_RA=https://fed.example.net/
RANDS=http://refeds.org/category/research-and-scholarship
FEEDS="hub idps sirtfi consumer foreign rands chosen"
declare -A ID1 ID3       # feed -> its ID after the first run, after section 3

# --- md.py: the test's own reading of metadata -------------------------------
cat >"$MD" <<'PYEOF'
"""md.py: helpers of tests/cli/test_publish.sh.

  md.py ids FILE
      The entityID of every md:EntityDescriptor in FILE, in document order.
  md.py facts [--drop ENTITYID]... @SOURCE RA FILE... [@SOURCE RA FILE...]...
      What a publisher should take from its sources, as a JSON list, from
      the rules fedsign documents (not from its code): a document with a
      DOCTYPE is refused whole; an entity without a good entityID (an
      absolute URI, no white space, at most 1024 characters) or whose own
      or an enclosing validUntil has passed is left out; an entityID an
      earlier source (or file) gave is left out; an entity without
      mdrpi:RegistrationInfo gets the source's RA ("-": none).  --drop
      names entities the rules are known to reject.  Each item:
      {src, id, roles: [idp, sp, ...], ra, attrs: {Name: [values]}}.
  md.py strip-reginfo FILE...
      Remove mdrpi:RegistrationInfo (and an md:Extensions it leaves empty).
  md.py get JSONFILE EXPR [ARG...]
      Print the Python expression EXPR on the document r (ARGs in a):
      none as "", true/false, a list one item a line.  Helpers for
      reports: src(NAME), feed(FILE), findings(level, rule, entityID,
      file, text) (None: any; text: in the message).
  md.py select FACTS EXPR [ARG...]
      The ids of the facts e for which EXPR holds (ARGs in a), sorted.
  md.py checkcmp BAD.xml EXPECTED.txt OUTPUT MODE
      Compare `fedsign check` OUTPUT on BAD.xml with EXPECTED.txt, the
      xsltproc messages of the rules (see BAD.xml's header), by meaning.
      expected: every expected finding is reported, except for the entity
      fedsign refuses before the rules run (an entityID over 1024
      characters).  extra: nothing else is reported than that refusal,
      schema errors for the entities BAD.xml says are schema-invalid, and
      the RSA-1024 key of the last entity.  lines: each FILE:LINE lies
      inside the entity the line names.  Prints what is wrong; exit 1 then.
"""
import datetime
import json
import re
import sys
import xml.etree.ElementTree as ET
import xml.parsers.expat

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
RPI = "urn:oasis:names:tc:SAML:metadata:rpi"
MDATTR = "urn:oasis:names:tc:SAML:metadata:attribute"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
ROLES = {"IDPSSODescriptor": "idp", "SPSSODescriptor": "sp",
         "AttributeAuthorityDescriptor": "aa", "PDPDescriptor": "pdp",
         "AuthnAuthorityDescriptor": "authn-authority"}


def q(ns, local):
    return "{%s}%s" % (ns, local)


def when(text):
    return datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()


def ids(path):
    for e in ET.parse(path).getroot().iter(q(MD, "EntityDescriptor")):
        print(e.get("entityID", ""))


def entities(root):
    """(entity, the earliest validUntil of it and its enclosing groups)."""
    def vu(el, cur):
        v = el.get("validUntil")
        if v is not None:
            t = when(v)
            cur = t if cur is None or t < cur else cur
        return cur

    def walk(group, cur):
        cur = vu(group, cur)
        for c in group:
            if c.tag == q(MD, "EntityDescriptor"):
                yield c, vu(c, cur)
            elif c.tag == q(MD, "EntitiesDescriptor"):
                yield from walk(c, cur)
    if root.tag == q(MD, "EntityDescriptor"):
        yield root, vu(root, None)
    else:
        yield from walk(root, None)


def good_id(i):
    return (i is not None and 0 < len(i) <= 1024 and not re.search(r"\s", i)
            and re.match(r"[A-Za-z][A-Za-z0-9+.-]*:.", i) is not None)


def facts(args):
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    drop, sources, i = set(), [], 0
    while i < len(args):
        if args[i] == "--drop":
            drop.add(args[i + 1])
            i += 2
        elif args[i].startswith("@"):
            sources.append((args[i][1:], None if args[i + 1] == "-" else args[i + 1], []))
            i += 2
        else:
            sources[-1][2].append(args[i])
            i += 1
    seen, out = set(), []
    for name, ra, files in sources:
        for path in files:
            with open(path, "rb") as f:
                data = f.read()
            if b"<!DOCTYPE" in data:
                continue
            try:
                root = ET.fromstring(data)
            except ET.ParseError:
                continue
            for e, vu in entities(root):
                eid = e.get("entityID")
                if not good_id(eid) or (vu is not None and vu <= now) or eid in seen:
                    continue
                seen.add(eid)
                if eid in drop:
                    continue
                roles = [ROLES[c.tag.split("}")[1]] for c in e
                         if c.tag.startswith("{%s}" % MD) and c.tag.split("}")[1] in ROLES]
                own, attrs = None, {}
                ext = e[0] if len(e) and e[0].tag == q(MD, "Extensions") else None
                for c in (ext if ext is not None else []):
                    if c.tag == q(RPI, "RegistrationInfo") and own is None:
                        own = c.get("registrationAuthority")
                    if c.tag == q(MDATTR, "EntityAttributes"):
                        for at in c.findall(q(SAML, "Attribute")):
                            attrs.setdefault(at.get("Name"), []).extend(
                                (v.text or "") for v in at.findall(q(SAML, "AttributeValue")))
                out.append({"src": name, "id": eid, "roles": roles,
                            "ra": own if own is not None else ra, "attrs": attrs})
    json.dump(out, sys.stdout, indent=1)


def strip_reginfo(paths):
    for p in paths:
        with open(p, encoding="utf-8") as f:
            text = f.read()
        text = re.sub(r"<mdrpi:RegistrationInfo\b.*?</mdrpi:RegistrationInfo>\s*", "", text, flags=re.S)
        text = re.sub(r"<((?:md:)?Extensions)>\s*</\1>\s*", "", text)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)


def show(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "\n".join(show(x) for x in v)
    return str(v)


def get(path, expr, args):
    try:
        with open(path, encoding="utf-8") as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        sys.stderr.write("md.py get: %s\n" % e)
        return 1

    def src(name):
        return next((x for x in r.get("sources", []) if x.get("name") == name), {})

    def feed(name):
        return next((x for x in r.get("feeds", []) if x.get("file") == name), {})

    def findings(level=None, rule=None, entity=None, file=None, text=""):
        return [x for x in r.get("findings", [])
                if level in (None, x.get("level")) and rule in (None, x.get("rule"))
                and entity in (None, x.get("entityID")) and file in (None, x.get("file"))
                and text in x.get("message", "")]
    try:
        v = eval(expr, {"r": r, "a": args, "src": src, "feed": feed, "findings": findings})
    except Exception as e:
        sys.stderr.write("md.py get: %s: %s\n" % (expr, e))
        return 1
    print(show(v))
    return 0


def select(path, expr, args):
    with open(path, encoding="utf-8") as f:
        facts = json.load(f)
    for i in sorted(e["id"] for e in facts if eval("(%s)" % expr, {"e": e, "a": args})):
        print(i)
    return 0


def spans(path):
    """Each entity of path: its ID, entityID, first and last line."""
    out, stack = [], []
    p = xml.parsers.expat.ParserCreate(namespace_separator=" ")

    def start(name, attrs):
        if name == MD + " EntityDescriptor":
            stack.append({"ID": attrs.get("ID"), "id": attrs.get("entityID"),
                          "first": p.CurrentLineNumber})

    def end(name):
        if name == MD + " EntityDescriptor":
            e = stack.pop()
            e["last"] = p.CurrentLineNumber
            out.append(e)
    p.StartElementHandler, p.EndElementHandler = start, end
    with open(path, "rb") as f:
        p.ParseFile(f)
    return out


def checkcmp(bad, expected, output, mode):
    ents = spans(bad)
    by_any = {}
    for e in ents:
        by_any[e["id"]] = e
        if e["ID"]:
            by_any[e["ID"]] = e        # the framework names an entity by its ID if it has one
    level = {"ERROR": "error", "WARN": "warning", "INFO": "note"}
    want = set()
    for line in open(expected, encoding="utf-8"):
        m = re.match(r"(\S+\.xsl): \[(ERROR|WARN|INFO)\] (.*?): (.*)$", line.rstrip("\n"))
        if not m or m.group(3) not in by_any:
            print("cannot read expected line %r" % line)
            return 1
        want.add((m.group(1), level[m.group(2)], by_any[m.group(3)]["id"], m.group(4)))
    got, where = set(), []
    for line in open(output, encoding="utf-8"):
        m = re.match(r"(.*?):(\d+): (error|warning|note): (.*?): \[([^\]]+)\] (.*)$", line.rstrip("\n"))
        if not m:
            print("not FILE:LINE: LEVEL: ENTITYID: [RULE] MESSAGE: %r" % line)
            return 1
        eid = m.group(4)
        if eid.endswith("...") and eid not in by_any:     # fedsign shortens long entityIDs
            hits = [e["id"] for e in ents if e["id"].startswith(eid[:-3])]
            eid = hits[0] if len(hits) == 1 else eid
        got.add((m.group(5), m.group(3), eid, m.group(6)))
        where.append((int(m.group(2)), eid, line.strip()))
    long_ids = {e["id"] for e in ents if len(e["id"]) > 1024}
    problems = []
    if mode == "expected":
        problems = ["not reported: %s" % (w,) for w in sorted(want)
                    if w[2] not in long_ids and w not in got]
    elif mode == "extra":
        schema_bad = {w[2] for w in want if "use='sign'" in w[3] or "has no xml:lang" in w[3]}
        last = ents[-1]["id"]
        for g in sorted(got - want):
            rule, lev, eid, msg = g
            if (rule == "entityID" and lev == "error" and eid in long_ids and "longer than 1024" in msg) or \
               (rule == "schema" and lev == "error" and eid in schema_bad) or \
               (rule == "check_rsa_keysize.xsl" and lev == "error" and eid == last and
                    msg == "key of 1024 bits; at least 2048 are required"):
                continue
            problems.append("unexpected: %s" % (g,))
        if not any(g[0] == "check_rsa_keysize.xsl" for g in got):
            problems.append("the RSA-1024 key of the last entity is not reported")
        if not any(g[0] == "entityID" and g[2] in long_ids for g in got):
            problems.append("the entityID longer than 1024 characters is not reported")
        if {g[2] for g in got if g[0] == "schema"} != schema_bad:
            problems.append("schema errors for %s, expected for %s" % (
                sorted({g[2] for g in got if g[0] == "schema"}), sorted(schema_bad)))
    elif mode == "lines":
        for n, eid, line in where:
            e = by_any.get(eid)
            if e is None or not e["first"] <= n <= e["last"]:
                problems.append("line %d is not inside entity %s: %s" % (n, eid[:80], line[:200]))
        if not where:
            problems.append("no findings")
    for p in problems:
        print(p)
    return 1 if problems else 0


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "ids":
        ids(args[0])
    elif cmd == "facts":
        facts(args)
    elif cmd == "strip-reginfo":
        strip_reginfo(args)
    elif cmd == "checkcmp":
        return checkcmp(*args)
    elif cmd == "get":
        return get(args[0], args[1], args[2:])
    elif cmd == "select":
        return select(args[0], args[1], args[2:])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


sys.exit(main())
PYEOF

# --- helpers -----------------------------------------------------------------

TRANSCRIPT=$TMP/transcript      # everything fedsign printed, for the PIN check
: >"$TRANSCRIPT"

# fs CODE DESC ARGS...: run fedsign ARGS and assert its exit status (stdout
# in $TMP/out, stderr in $TMP/err); its wall time in seconds is $ELAPSED.
fs() {
	local want=$1 desc=$2 t0; shift 2
	t0=$(date +%s.%N)
	expect "$want" "$desc" "$FEDSIGN" "$@"
	ELAPSED=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	{ echo "== fedsign $*"; cat "$TMP/out" "$TMP/err"; } >>"$TRANSCRIPT"
}

# jr FILE EXPR [ARG...]: a Python expression on the JSON document r in FILE
# (a report), ARGs in a (see md.py get); "" when it cannot be had.
jr() { python3 "$MD" get "$@" 2>/dev/null; }

# finding REPORT LEVEL RULE ENTITYID|"" TEXT: the number of findings of the
# report with that level and rule (and entityID), whose message has TEXT.
finding() {
	jr "$1" 'len(findings(a[0], a[1], a[2] or None, None, a[3]))' "$2" "$3" "$4" "$5"
}

# has_finding DESC REPORT LEVEL RULE ENTITYID TEXT: at least one such finding.
has_finding() {
	local desc=$1 n; shift
	n=$(finding "$@")
	if [ "${n:-0}" -ge 1 ]; then ok "$desc"; else nok "$desc (no $2 finding [$3] '$5' in $1)"; fi
}

xp() { xmllint --xpath "$2" "$1" 2>/dev/null; }
root_attr() { xp "$1" "string(/*/@$2)"; }          # FILE NAME: the document element's attribute
ids_of() { python3 "$MD" ids "$1" 2>/dev/null; }   # FILE: its entityIDs

# The shim writes one line per PKCS#11 call it counts (calls NAME).
export FS_SHIM_MODULE=$SOFTHSM_MODULE FS_SHIM_COUNT=$TMP/p11.calls
: >"$FS_SHIM_COUNT"

# What each feed of the main configuration holds: a Python expression on
# each entity e of the facts (chosen.xml: the entityIDs in a).
declare -A SELECT=(
	[hub]='e["src"] == "members"'
	[idps]='e["src"] in ("members", "upstream") and "idp" in e["roles"]'
	[sirtfi]='e["src"] in ("members", "upstream") and
	    "https://refeds.org/sirtfi" in e["attrs"].get("urn:oasis:names:tc:SAML:attribute:assurance-certification", [])'
	[consumer]='e["src"] in ("members", "upstream") and ("idp" in e["roles"] or e["ra"] == "https://fed.example.net/")'
	[foreign]='e["src"] in ("members", "upstream") and e["ra"] not in ("https://fed.example.net/", "https://incommon.org")'
	[rands]='e["src"] == "upstream" and e["ra"] in ("http://ukfederation.org.uk", "https://incommon.org") and
	    "http://refeds.org/category/research-and-scholarship" in e["attrs"].get("http://macedir.org/entity-category", [])'
	[chosen]='e["id"] in a'
)

# want FEED FACTS: the entityIDs FEED must hold, sorted.
want() {
	python3 "$MD" select "$2" "${SELECT[$1]}" "$DUP_ID" "$EXTRA_ID" "$UP_PICK"
}

# same_ids DESC FEEDFILE FEED FACTS: the feed holds exactly what want says,
# each entity once.
same_ids() {
	local desc=$1 file=$2
	ids_of "$file" >"$TMP/got.ids"
	want "$3" "$4" >"$TMP/want.ids"
	if [ ! -s "$TMP/want.ids" ]; then
		nok "$desc: nothing is selected (a bug in the test)"
	elif [ -n "$(sort "$TMP/got.ids" | uniq -d)" ]; then
		nok "$desc: an entity is in it twice"
	elif sort "$TMP/got.ids" | cmp -s - "$TMP/want.ids"; then
		ok "$desc ($(wc -l <"$TMP/want.ids") entities)"
	else
		nok "$desc"
		sort "$TMP/got.ids" | diff "$TMP/want.ids" - | head -10 | sed 's/^/# /'
	fi
}

# serve FILE NAME: make the server's NAME the content of FILE.
serve() { cp "$1" "$TMP/srv/.new" && mv "$TMP/srv/.new" "$TMP/srv/$2"; }

# --- inputs ------------------------------------------------------------------

# The token: a distinctive PIN, so that its absence from every output means
# something.  The key is generated inside it; its certificate is on it too.
PIN=Pq7x-Z9k2-pin
WRONG_PIN=Wr0ng-88-pin
(umask 077; printf '%s\n' "$PIN" >"$TMP/pin"; printf '87654321\n' >"$TMP/sopin"
 printf '%s\n' "$WRONG_PIN" >"$TMP/wrongpin")
new_token publish
fs 0 "keygen on the token" keygen --key "$(key_uri publish md-signer)" --type rsa:2048
fs 0 "the key's certificate, on the token and in signer.crt" cert create \
    --key "$(key_uri publish md-signer)" --subject 'CN=Test Federation Metadata Signer' --out "$TMP/signer.crt"
# publish signs through the shim; no cert: the token's certificate goes into KeyInfo
KEY="pkcs11:token=publish;object=md-signer?module-path=$SHIM&pin-source=file:$TMP/pin"
BAD_PIN_KEY="pkcs11:token=publish;object=md-signer?module-path=$SHIM&pin-source=file:$TMP/wrongpin"
NO_MODULE_KEY="pkcs11:token=publish;object=md-signer?module-path=$TMP/no-such-module.so&pin-source=file:$TMP/pin"
[ -f "$SHIM" ] || nok "the PKCS#11 shim $SHIM is missing (build it)"

# The upstream federation's signing key (a PEM key file, mode 600).
(umask 077; openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/upkey.pem" \
    -out "$TMP/upcert.pem" -subj "/CN=Upstream Federation Signer" -days 30 2>/dev/null)
upsign() { # IN OUT VALIDITY: signed by the upstream federation
	fs 0 "upstream signs $(basename "$1") for $3" sign "$1" -o "$2" \
	    --key-file "$TMP/upkey.pem" --cert "$TMP/upcert.pem" --valid-for "$3"
}

# Upstream: 300 generated entities, later 310 (the same 300 and 10 more);
# members: 40 generated (another seed, own domains), split one per file.
GEN=$TOOLS/gen-aggregate.py
python3 "$GEN" 300 "$TMP/up300.xml" --seed 11 --certs "$TMP/gencerts" &&
python3 "$GEN" 310 "$TMP/up310.xml" --seed 11 --certs "$TMP/gencerts" &&
python3 "$GEN" 6 "$TMP/short.xml" --seed 13 --certs "$TMP/gencerts" &&
python3 "$GEN" 41 "$TMP/gen-members.xml" --seed 12 --certs "$TMP/gencerts" ||
    { nok "gen-aggregate.py made the inputs"; done_testing; }
check "the first 300 entities of the 310 are those of the 300" \
    cmp <(ids_of "$TMP/up300.xml") <(ids_of "$TMP/up310.xml" | head -300)
sed -i 's/\.example\.org/.member.example.net/g' "$TMP/gen-members.xml"
mkdir -p "$TMP/split" "$TMP/members" "$TMP/extras"
xsltproc --stringparam dir "$TMP/split" "$TOOLS/split-entities.xsl" "$TMP/gen-members.xml"
mv "$TMP"/split/entity-000[0-3]?.xml "$TMP/split/entity-00040.xml" "$TMP/members/"
mv "$TMP/split/entity-00041.xml" "$TMP/extras/"
is "40 generated member files" "$(ls "$TMP/members" | wc -l)" 40
# A registry's own entities carry no RegistrationInfo: all but every fourth.
python3 "$MD" strip-reginfo $(ls "$TMP"/members/entity-*.xml | awk 'NR % 4 != 0')
# Real member files from the corpus: single entities and small aggregates;
# uu.xml breaks check_contacts.xsl and the schema ([ERROR]); uom.xml has
# expired; test-sp.xml holds an http:// entityID (a [WARN]).
for f in pyFF/sharav.abes.fr.xml pyFF/idp.aco.net.xml pyFF/skriptenforum.net.xml \
    ukf-testbed/tests/xml/sirtfi_v2/good_sirtfi.xml smee/aggregate_lots_of_comments.xml \
    pyFF/test-sp.xml pysaml2/uu.xml smee/uom.xml; do
	cp "$CORPUS/$f" "$TMP/members/corpus-$(basename "$f")"
done
UU_ID=https://akka-anv.uu.se/shibboleth
UOM_ID=https://shib.manchester.ac.uk/shibboleth
WARN_ID=http://fs.liu.se/adfs/services/trust
# Another source with the entityID of good_sirtfi.xml (a real file of its own).
cp "$CORPUS/ukf-testbed/tests/xml/adfs/good_adfs_idp.xml" "$TMP/extras/"
DUP_ID=https://idp.example.org/idp/shibboleth
EXTRA_ID=$(ids_of "$TMP/extras/entity-00041.xml")
# Members with a DOCTYPE, one plain and one declaring an entity it uses.
{ sed -n 1p "$TMP/members/entity-00002.xml"; echo '<!DOCTYPE md:EntityDescriptor>'
  sed '1d; s#entityID="[^"]*"#entityID="https://doctype.member.example.net/shibboleth"#' "$TMP/members/entity-00002.xml"; } \
    >"$TMP/members/doctype.xml"
cat >"$TMP/members/entity-decl.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE md:EntityDescriptor [
  <!ENTITY host "entity-decl.member.example.net">
]>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://&host;/idp/shibboleth">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="https://&host;/idp/profile/SAML2/Redirect/SSO"/>
  </md:IDPSSODescriptor>
  <md:ContactPerson contactType="technical"><md:EmailAddress>mailto:sso@&host;</md:EmailAddress></md:ContactPerson>
</md:EntityDescriptor>
EOF
# The members less 8 generated ones: more than the 10% the valve allows.
cp -a "$TMP/members" "$TMP/members-less"
rm "$TMP"/members-less/entity-0000[1-8].xml

upsign "$TMP/up300.xml" "$TMP/up300.signed.xml" 5d
upsign "$TMP/up310.xml" "$TMP/up310.signed.xml" 5d
UP_PICK=$(ids_of "$TMP/up300.xml" | sed -n 5p)

# facts OUT MEMBERS_DIR UPSTREAM: what the sources give, in config order.
facts() {
	python3 "$MD" facts --drop "$UU_ID" @members "$FED_RA" "$2"/*.xml \
	    @upstream - "$3" @extras - "$TMP"/extras/*.xml >"$1"
}
facts "$TMP/facts300.json" "$TMP/members" "$TMP/up300.signed.xml"
facts "$TMP/facts310.json" "$TMP/members" "$TMP/up310.signed.xml"
facts "$TMP/facts-less.json" "$TMP/members-less" "$TMP/up310.signed.xml"
N_MEMBERS=$(python3 "$MD" select "$TMP/facts300.json" 'e["src"] == "members"' | wc -l)
N_LESS=$(python3 "$MD" select "$TMP/facts-less.json" 'e["src"] == "members"' | wc -l)
is "the members are 40 generated and 12 corpus entities" "$N_MEMBERS" 52

# The HTTP server.
mkdir -p "$TMP/srv"
python3 "$TOOLS/mdserver.py" "$TMP/srv" "$TMP/srv.port" "$TMP/srv.log" &
SRV=$!
LOCKER=""
trap 'kill $SRV $LOCKER 2>/dev/null; cleanup_tmp' EXIT
wait_until 5 test -s "$TMP/srv.port"
PORT=$(cat "$TMP/srv.port" 2>/dev/null)
check "mdserver.py listens" test -n "$PORT"
serve "$TMP/up300.signed.xml" upstream.xml
: >"$TMP/srv.log"
served() { grep -c "^GET /$1 $2\$" "$TMP/srv.log"; }   # NAME STATUS: requests so far

# --- configurations ----------------------------------------------------------

PUB=$TMP/main/www STATE=$TMP/main/state R=$TMP/main/state/last-report.json
MEMBERS_GLOB=$TMP/members/*.xml
UPSTREAM_URL=http://127.0.0.1:$PORT/upstream.xml
MORE_SOURCES="" MORE_FEEDS="" NOTE=""
# conf FILE: the main configuration, shaped by the variables above.
conf() {
	cat >"$1" <<EOF
# fedsign publish test: the main configuration $NOTE
signing:
  key: "$KEY"
publish-dir: $PUB
state-dir: $STATE
validity: 10d
cache-duration: 6h
publisher: $FED_RA
checks:
  schema: true
  rules:
    - $SRCDIR/examples/rules/check_*.xsl
safety:
  max-entity-drop: 10%
sources:
  - name: members
    files: "$MEMBERS_GLOB"
    registration-authority: $FED_RA
  - name: upstream
    url: "$UPSTREAM_URL"
    verify-cert: $TMP/upcert.pem
    timeout: 2s
  - name: extras
    files: ["$TMP/extras/*.xml"]
    required: false
$MORE_SOURCES
feeds:
  - file: hub.xml
    name: https://md.fed.example.net/hub.xml
    sources: [members]
  - file: idps.xml
    name: https://md.fed.example.net/idps.xml
    sources: [members, upstream]
    select:
      roles: [idp]
  - file: sirtfi.xml
    sources: [members, upstream]
    select:
      assurance-certification: [https://refeds.org/sirtfi]
    validity: 7d
    cache-duration: 1h
  - file: consumer.xml
    sources: [members, upstream]
    select:
      xpath: "md:IDPSSODescriptor or md:Extensions/mdrpi:RegistrationInfo/@registrationAuthority = '$FED_RA'"
  - file: foreign.xml
    sources: [members, upstream]
    select:
      registration-authority:
        exclude: [$FED_RA, https://incommon.org]
  - file: rands.xml
    sources: [upstream]
    select:
      registration-authority: [http://ukfederation.org.uk, https://incommon.org]
      entity-category: [$RANDS]
  - file: chosen.xml
    sources: [extras, members, upstream]
    select:
      entity-ids:
        - "$DUP_ID"
        - "$EXTRA_ID"
        - "$UP_PICK"
$MORE_FEEDS
EOF
}
C=$TMP/main/publish.yaml
mkdir -p "$TMP/main"

# A second, small configuration with its own folders: one short-lived
# upstream (valid for 8 s), for section 5.  Published now, checked later.
upsign "$TMP/short.xml" "$TMP/short.signed.xml" 8s
SHORT_VU=$(epoch "$(root_attr "$TMP/short.signed.xml" validUntil)")
serve "$TMP/short.signed.xml" short.xml
EXP=$TMP/exp
mkdir -p "$EXP"
cat >"$EXP/publish.yaml" <<EOF
signing:
  key: "$KEY"
publish-dir: www
state-dir: state
validity: 1d
sources:
  - name: short
    url: "http://127.0.0.1:$PORT/short.xml"
    verify-cert: $TMP/upcert.pem
feeds:
  - file: short.xml
    sources: [short]
EOF
fs 0 "5. a feed of the short-lived upstream is published" publish -c "$EXP/publish.yaml" -q

# --- 1. the first run ----------------------------------------------------------

conf "$C"
L0=$(calls C_Login) S0=$(calls C_Sign)
BEFORE=$(date +%s)
fs 0 "1. the first run publishes (exit 0)" publish -c "$C"
AFTER=$(date +%s)
T_FIRST=$(jr "$R" 'r["timings"]["total"]')
REL=$(jr "$R" 'r["release"]')
is "1. outcome: published" "$(jr "$R" 'r["outcome"]')" published
is "1. publish-dir/current is a symbolic link to releases/<the report's release>" \
    "$(readlink "$PUB/current")" "releases/$REL"
check "1. the release folder exists" test -d "$PUB/releases/$REL" -a ! -L "$PUB/releases/$REL"
is "1. publication.json names the release" "$(jr "$STATE/publication.json" 'r["release"]')" "$REL"
is "1. one login for all the feeds" "$(( $(calls C_Login) - L0 ))" 1
is "1. one signature per feed" "$(( $(calls C_Sign) - S0 ))" 7
is "1. the report lists 7 feeds" "$(jr "$R" 'len(r["feeds"])')" 7

# Each feed verifies, with fedsign and with the real consumers.
for f in $FEEDS; do
	feed=$PUB/current/$f.xml
	fs 0 "1. $f.xml: fedsign verify with the token's certificate" verify "$feed" --cert "$TMP/signer.crt"
	consumers "1. $f.xml" "$feed" "$TMP/signer.crt"
done
check "1. KeyInfo holds the token's certificate (no cert: in the configuration)" test \
    "$(xp "$PUB/current/hub.xml" 'string(//*[local-name()="X509Certificate"])' | tr -d '\n ')" = \
    "$(sed '1d;$d' "$TMP/signer.crt" | tr -d '\n')"

# What each feed holds, computed from the inputs.
for f in $FEEDS; do
	same_ids "1. $f.xml holds the right entities" "$PUB/current/$f.xml" "$f" "$TMP/facts300.json"
	is "1. the report counts $f.xml's entities" \
	    "$(jr "$R" 'feed(a[0])["entities"]' "$f.xml")" "$(want "$f" "$TMP/facts300.json" | wc -l)"
done
check "1. some member IdPs and some upstream IdPs in idps.xml, not every entity" test \
    "$(want idps "$TMP/facts300.json" | wc -l)" -lt "$(python3 "$MD" select "$TMP/facts300.json" 'e["src"] != "extras"' | wc -l)"

# validUntil: now + validity for a members-only feed, the upstream's
# validUntil for feeds holding upstream entities (5 days < 7 and 10).
UP_VU=$(epoch "$(root_attr "$TMP/up300.signed.xml" validUntil)")
HUB_VU=$(epoch "$(root_attr "$PUB/current/hub.xml" validUntil)")
check "1. hub.xml (members only): validUntil is now + 10d" \
    test "$HUB_VU" -ge $((BEFORE + 864000)) -a "$HUB_VU" -le $((AFTER + 864000))
for f in idps sirtfi consumer foreign rands chosen; do
	is "1. $f.xml (upstream entities): validUntil is the upstream's" \
	    "$(epoch "$(root_attr "$PUB/current/$f.xml" validUntil)")" "$UP_VU"
done
is "1. the report's validUntil of hub.xml is the file's" \
    "$(jr "$R" 'feed("hub.xml")["validUntil"]')" "$(root_attr "$PUB/current/hub.xml" validUntil)"
is "1. cacheDuration of hub.xml (6h)" "$(root_attr "$PUB/current/hub.xml" cacheDuration)" PT6H
is "1. cacheDuration of sirtfi.xml (its own 1h)" "$(root_attr "$PUB/current/sirtfi.xml" cacheDuration)" PT1H
is "1. Name of hub.xml" "$(root_attr "$PUB/current/hub.xml" Name)" https://md.fed.example.net/hub.xml
for f in $FEEDS; do
	is "1. $f.xml: PublicationInfo by the publisher, with the release as publicationId" \
	    "$(xp "$PUB/current/$f.xml" 'concat(/*/*[local-name()="Extensions"]/*[local-name()="PublicationInfo"]/@publisher, " ",
	        /*/*[local-name()="Extensions"]/*[local-name()="PublicationInfo"]/@publicationId)')" "$FED_RA $REL"
	ID1[$f]=$(root_attr "$PUB/current/$f.xml" ID)
done
check "1. the feed ID is _ and 40 hex digits" grep -qxE '_[0-9a-f]{40}' <<<"${ID1[hub]}"

# RegistrationInfo: added where a member has none, kept where it has one.
ri() { # FEED ENTITYID: its registrationAuthority(s)
	xp "$1" "string(//*[local-name()=\"EntityDescriptor\"][@entityID=\"$2\"]/*[local-name()=\"Extensions\"]/*[local-name()=\"RegistrationInfo\"]/@registrationAuthority)"
}
is "1. every entity of hub.xml has exactly one RegistrationInfo" "$(xp "$PUB/current/hub.xml" \
    'count(//*[local-name()="EntityDescriptor"][count(*[local-name()="Extensions"]/*[local-name()="RegistrationInfo"]) != 1])')" 0
is "1. RegistrationInfo added to idp.aco.net (a corpus file without one)" \
    "$(ri "$PUB/current/hub.xml" https://idp.aco.net/idp/shibboleth)" "$FED_RA"
is "1. RegistrationInfo added to a generated member stripped of its own" \
    "$(ri "$PUB/current/hub.xml" "$(ids_of "$TMP/members/entity-00001.xml")")" "$FED_RA"
is "1. a member's own RegistrationInfo is kept (sharav.abes.fr)" \
    "$(ri "$PUB/current/hub.xml" https://sharav.abes.fr/idp/shibboleth)" https://federation.renater.fr/
has_finding "1. ... and reported as registered by another authority" "$R" warn registration \
    https://sharav.abes.fr/idp/shibboleth "registered by https://federation.renater.fr/"

# The sources in the report; the HTTP source was fetched once.
is "1. members: read, 50 files" "$(jr "$R" '"%s %s" % (src("members")["status"], src("members")["files"])')" "read 50"
is "1. upstream: fetched, 300 entities" "$(jr "$R" '"%s %s" % (src("upstream")["status"], src("upstream")["entities"])')" "fetched 300"
check "1. upstream: the ETag is kept" test -n "$(jr "$STATE/sources/upstream/last-good.json" 'r.get("etag")')"
check "1. upstream: the verified copy is the last good one" cmp -s "$STATE/sources/upstream/last-good.xml" "$TMP/up300.signed.xml"
is "1. the server answered one GET with 200" "$(served upstream.xml 200)" 1

# 11 (with schema: and the project's rules). An [ERROR] keeps the entity
# out of every feed and is reported with its entityID and rule file; a
# [WARN] entity stays.
has_finding "11. uu.xml: [ERROR] of check_contacts.xsl reported with its entityID" "$R" error check_contacts.xsl "$UU_ID" "no md:ContactPerson"
has_finding "11. uu.xml: the schema error reported too" "$R" error schema "$UU_ID" ""
is "11. the report names the file of the [ERROR]" \
    "$(jr "$R" 'findings("error", "check_contacts.xsl", a[0])[0]["file"]' "$UU_ID")" \
    "$TMP/members/corpus-uu.xml"
is "11. no feed holds the entity with an [ERROR]" "$(grep -lF "entityID=\"$UU_ID\"" "$PUB"/current/*.xml | wc -l)" 0
is "11. the report counts one entity dropped by the checks" "$(jr "$R" 'r["dropped"]')" 1
has_finding "11. a [WARN] of check_entityid.xsl is reported" "$R" warn check_entityid.xsl "$WARN_ID" "neither an https:// URL"
check "11. ... and that entity is published" grep -qx "$WARN_ID" <(ids_of "$PUB/current/hub.xml")
has_finding "1. the expired member (uom.xml) is refused" "$R" error validity "$UOM_ID" "expired"
is "1. ... and in no feed" "$(grep -lF "entityID=\"$UOM_ID\"" "$PUB"/current/*.xml | wc -l)" 0

# 12. The same entityID in two sources: the first source in the
# configuration wins (members, though chosen.xml lists extras first).
has_finding "12. the copy in extras is reported as a duplicate" "$R" warn duplicate "$DUP_ID" "also in source members"
is "12. the duplicate warning names source extras" \
    "$(jr "$R" 'findings("warn", "duplicate", a[0])[0]["source"]' "$DUP_ID")" extras
is "12. chosen.xml holds the members' copy (with its Sirtfi)" "$(xp "$PUB/current/chosen.xml" \
    "count(//*[@entityID=\"$DUP_ID\"]//*[local-name()=\"AttributeValue\"][.=\"https://refeds.org/sirtfi\"])")" 1
is "12. nothing of the extras' copy is in any feed" "$(grep -l 'foo.example.org/adfs' "$PUB"/current/*.xml | wc -l)" 0

# 14. A members file with a DOCTYPE, or declaring an entity, is refused
# and reported; nothing of it is published.
for f in doctype.xml entity-decl.xml; do
	is "14. $f is refused with a DOCTYPE error" \
	    "$(jr "$R" 'len(findings("error", "document", None, a[0], "DOCTYPE"))' "$TMP/members/$f")" 1
done
is "14. nothing of them in any feed" "$(grep -lE 'doctype\.member|entity-decl\.member' "$PUB"/current/*.xml | wc -l)" 0

# --- 2. nothing changed ----------------------------------------------------------

# The run right after a download matters most: the copy moved from
# fetched.xml to last-good.xml, and must still count as the same input.
snap pub1 "$PUB"
cp "$STATE/publication.json" "$TMP/publication.1"
L0=$(calls C_Login) S0=$(calls C_Sign)
fs 0 "2. the second run, nothing changed (exit 0)" publish -c "$C" -q --report "$TMP/report.2.json"
check "2. --report FILE: the same report as state-dir/last-report.json" cmp -s "$TMP/report.2.json" "$R"
is "2. outcome: unchanged" "$(jr "$R" 'r["outcome"]' | cut -d: -f1)" unchanged
same_tree "2. publish-dir byte-identical: no new release folder, the feeds untouched" pub1 "$PUB"
check "2. publication.json unchanged" cmp -s "$STATE/publication.json" "$TMP/publication.1"
is "2. no login and no signature" "$(( $(calls C_Login) - L0 )) $(( $(calls C_Sign) - S0 ))" "0 0"
is "2. the report names the live release" "$(jr "$R" 'r["release"]')" "$REL"
is "3. the server answered the conditional GET with 304" "$(served upstream.xml 304)" 1
is "3. upstream: not-modified" "$(jr "$R" 'src("upstream")["status"]')" not-modified
T_SAME=$(jr "$R" 'r["timings"]["total"]')
echo "# first run ${T_FIRST}s, unchanged run ${T_SAME}s"
check "2. much faster than the first run (under a third)" awk -v a="$T_SAME" -v b="$T_FIRST" 'BEGIN { exit !(a > 0 && a * 3 < b) }'

# 1 (the feed ID). The same content keeps the ID: a new publication
# (the configuration changed) with the same entities.
NOTE="(touched)" conf "$C"
fs 0 "1. a publication with the same content (the configuration touched)" publish -c "$C" -q
check "1. ... is a new release" test "$(jr "$R" 'r["release"]')" != "$REL" -a "$(jr "$R" 'r["outcome"]')" = published
for f in $FEEDS; do
	is "1. $f.xml keeps its ID" "$(root_attr "$PUB/current/$f.xml" ID)" "${ID1[$f]}"
done

# --- 3. the upstream changes: fetched again, published --------------------------

serve "$TMP/up310.signed.xml" upstream.xml
fs 0 "3. the upstream changed and was signed again: published" publish -c "$C" -q
is "3. upstream: fetched, 310 entities" "$(jr "$R" '"%s %s" % (src("upstream")["status"], src("upstream")["entities"])')" "fetched 310"
is "3. the server answered 200 again" "$(served upstream.xml 200)" 2
check "3. the new copy is the last good one" cmp -s "$STATE/sources/upstream/last-good.xml" "$TMP/up310.signed.xml"
for f in $FEEDS; do
	same_ids "3. $f.xml holds the right entities" "$PUB/current/$f.xml" "$f" "$TMP/facts310.json"
	ID3[$f]=$(root_attr "$PUB/current/$f.xml" ID)
	# An ID changes exactly when what the feed holds changes.
	if [ "$(want "$f" "$TMP/facts300.json")" = "$(want "$f" "$TMP/facts310.json")" ]; then
		is "3. $f.xml: same entities, same ID" "${ID3[$f]}" "${ID1[$f]}"
	else
		check "3. $f.xml: other entities, another ID" test "${ID3[$f]}" != "${ID1[$f]}"
	fi
done

# --- 4. a tampered upstream: rejected, the last good copy stands in ---------------

python3 "$IOP/mdtool.py" tamper "$TMP/up310.signed.xml" "$TMP/up310.tampered.xml" >"$TMP/tamper.out"
sed 's/^/# /' "$TMP/tamper.out"
TAMPERED=$(sed -n 's/^changed [A-Za-z]*="[^"]*" to \("[^"]*"\).*/\1/p' "$TMP/tamper.out")
serve "$TMP/up310.tampered.xml" upstream.xml
fs 0 "4. a tampered upstream does not stop the publication" publish -c "$C"
is "4. upstream: last-good" "$(jr "$R" 'src("upstream")["status"]')" last-good
is "4. the report says why the copy was rejected" \
    "$(jr "$R" 'src("upstream")["rejected"]' | grep -c 'digest mismatch')" 1
has_finding "4. a warning: the last good copy is used" "$R" warn source "" "using the last good copy"
check "4. the rejected copy did not become the last good one" cmp -s "$STATE/sources/upstream/last-good.xml" "$TMP/up310.signed.xml"
is "4. published" "$(jr "$R" 'r["outcome"]')" published
for f in idps foreign chosen; do
	same_ids "4. $f.xml still holds the previous upstream entities" "$PUB/current/$f.xml" "$f" "$TMP/facts310.json"
	is "4. $f.xml: ID as before" "$(root_attr "$PUB/current/$f.xml" ID)" "${ID3[$f]}"
done
check "4. the tampered value is known" test -n "$TAMPERED"
is "4. no feed holds the tampered value" "$(grep -lF "=$TAMPERED" "$PUB"/current/*.xml | wc -l)" 0
serve "$TMP/up310.signed.xml" upstream.xml

# --- 6. a server that hangs: the timeout, then the last good copy -----------------

: >"$TMP/srv/.hang"
fs 0 "6. a hanging server: the run goes on (exit 0)" publish -c "$C"
check "6. ... after the 2 s timeout ($ELAPSED s)" awk -v t="$ELAPSED" 'BEGIN { exit !(t >= 1.9 && t < 8) }'
is "6. upstream: last-good" "$(jr "$R" 'src("upstream")["status"]')" last-good
check "6. the fetch took about 2 s" awk -v t="$(jr "$R" 'src("upstream")["fetchSeconds"]')" \
    'BEGIN { exit !(t >= 1.9 && t < 5) }'
has_finding "6. a warning names the source and the timeout" "$R" warn fetch "" "did not answer within 2 seconds"
err_has "source upstream"
same_ids "6. idps.xml still holds the upstream IdPs" "$PUB/current/idps.xml" idps "$TMP/facts310.json"
check "6. the server saw the request hang" grep -qx 'GET /upstream.xml hang' "$TMP/srv.log"

# No last good copy, and the source required: refused.
H=$TMP/hang
mkdir -p "$H"
cat >"$H/publish.yaml" <<EOF
signing:
  key: "$KEY"
publish-dir: www
state-dir: state
validity: 10d
sources:
  - name: upstream
    url: "$UPSTREAM_URL"
    verify-cert: $TMP/upcert.pem
    timeout: 2s
feeds:
  - file: up.xml
    sources: [upstream]
EOF
snap hang "$H/www"
fs 1 "6. a hanging server, no last good copy, required: refused (exit 1)" publish -c "$H/publish.yaml"
check "6. ... after the 2 s timeout ($ELAPSED s)" awk -v t="$ELAPSED" 'BEGIN { exit !(t >= 1.9 && t < 8) }'
err_has "required source upstream is unusable"
same_tree "6. nothing was published" hang "$H/www"
rm -f "$TMP/srv/.hang"

# --- 5. the last good copy has expired, the server serves something unusable ------

# (After section 6: by now the short-lived upstream's 8 seconds are over,
# or nearly; the loop waits out the rest.)

while [ "$(date +%s)" -le "$SHORT_VU" ]; do sleep 0.2; done
python3 "$IOP/mdtool.py" tamper "$TMP/short.signed.xml" "$TMP/short.tampered.xml" >/dev/null
serve "$TMP/short.tampered.xml" short.xml
snap exp "$EXP/www"
fs 1 "5. expired last good copy, unusable download: refused (exit 1)" publish -c "$EXP/publish.yaml"
err_has "required source short is unusable"
err_has "expired"
is "5. short: rejected" "$(jr "$EXP/state/last-report.json" 'src("short")["status"]')" rejected
is "5. outcome: refused" "$(jr "$EXP/state/last-report.json" 'r["outcome"]')" refused
same_tree "5. publish-dir byte-identical" exp "$EXP/www"

# --- 7. refusals leave publish-dir byte-identical ---------------------------------

# refused DESC TEXT: the run just made was refused with TEXT, and neither
# publish-dir nor the publication state changed.
refused() {
	err_has "$2"
	is "$1: outcome refused" "$(jr "$R" 'r["outcome"]')" refused
	same_tree "$1: publish-dir byte-identical" main "$PUB"
	check "$1: publication.json unchanged" cmp -s "$STATE/publication.json" "$TMP/publication.main"
}
snap main "$PUB"
cp "$STATE/publication.json" "$TMP/publication.main"

MEMBERS_GLOB=$TMP/members/*.none conf "$TMP/main/missing.yaml"
fs 1 "7. required source missing (a glob matching nothing): exit 1" publish -c "$TMP/main/missing.yaml"
refused "7. missing source" "required source members is unusable: no file matches"

# A source with required: false whose files: glob names a folder that
# does not exist is left out with a warning, as an empty folder is
# (gather_files, publish.c: glob's GLOB_ABORTED is no files, and
# "required" decides).  It once failed the whole run with exit 4.
O=$TMP/optional
mkdir -p "$O"
cat >"$O/publish.yaml" <<EOF
signing:
  key: "$KEY"
publish-dir: www
state-dir: state
validity: 10d
checks: {schema: false}
sources:
  - name: members
    files: "$TMP/members/entity-0000*.xml"
  - name: gone
    files: "$TMP/no-such-folder/*.xml"
    required: false
feeds:
  - file: hub.xml
    sources: [members, gone]
EOF
fs 0 "7. an optional source whose folder is missing is left out (exit 0)" publish -c "$O/publish.yaml" -q
has_finding "7. ... with a warning" "$O/state/last-report.json" warn source "" "source gone is unusable and left out"
check "7. ... and the rest is published" test -f "$O/www/current/hub.xml"

MORE_SOURCES="  - name: local
    file: $TMP/no-such-file.xml" conf "$TMP/main/nofile.yaml"
fs 1 "7. a file: source missing, no last good copy: exit 1" publish -c "$TMP/main/nofile.yaml"
refused "7. missing file" "required source local is unusable"

MORE_FEEDS="  - file: empty.xml
    sources: [members]
    select:
      entity-ids: [\"urn:example:nobody\"]" conf "$TMP/main/empty.yaml"
fs 1 "7. a feed that would be empty: exit 1" publish -c "$TMP/main/empty.yaml"
refused "7. empty feed" "feed empty.xml would be empty"

# The lock, held by another process (flock(1) on state-dir/lock).
( exec 9>>"$STATE/lock"; flock 9; : >"$TMP/locked"; exec sleep 60 ) &
LOCKER=$!
wait_until 5 test -e "$TMP/locked"
cp "$R" "$TMP/report.before-lock"
NOTE="(locked)" conf "$TMP/main/locked.yaml"
fs 1 "7. the lock held by another run: exit 1" publish -c "$TMP/main/locked.yaml"
err_has "another fedsign publish"
same_tree "7. lock: publish-dir byte-identical" main "$PUB"
check "7. lock: not even the last report was written" cmp -s "$R" "$TMP/report.before-lock"
kill "$LOCKER"; wait "$LOCKER" 2>/dev/null; LOCKER=""

# The entity-drop valve: 8 of 52 members gone.
DROP=$(awk -v a="$N_MEMBERS" -v b="$N_LESS" 'BEGIN { printf "%.1f%%", (a - b) * 100 / a }')
MEMBERS_GLOB=$TMP/members-less/*.xml conf "$TMP/main/less.yaml"
fs 1 "7. more than 10% of the members gone: exit 1" publish -c "$TMP/main/less.yaml"
refused "7. drop valve" "feed hub.xml would shrink from $N_MEMBERS to $N_LESS entities ($DROP, more than max-entity-drop 10.0%)"
L0=$(calls C_Sign)
fs 0 "7. --force publishes past the valve" publish -c "$TMP/main/less.yaml" --force -q
is "7. --force: the report says forced" "$(jr "$R" 'feed("hub.xml").get("forced")')" true
has_finding "7. --force: a warning says so" "$R" warn safety "" "published anyway because of --force"
same_ids "7. --force: hub.xml holds the remaining members" "$PUB/current/hub.xml" hub "$TMP/facts-less.json"
# Feeds whose content did not change are taken from the live release.
is "7. --force: a signature for each feed that changed" "$(( $(calls C_Sign) - L0 ))" \
    "$(jr "$R" 'r["signatures"]["feeds"]')"
is "7. --force: hub.xml (it lost members) was signed again" \
    "$(jr "$R" 'feed("hub.xml").get("signatures")')" 1

# A write that fails fails the run and leaves nothing behind: past ulimit -f
# (EFBIG), the same path as a full disk (ENOSPC).  All the members are
# back, so hub.xml is signed again, and it is larger than the limit.
snap full "$PUB"
cp "$STATE/publication.json" "$TMP/publication.full"
NOTE="(full)" conf "$TMP/main/full.yaml"
expect 4 "7. a write that fails (ulimit -f 64): exit 4" \
    bash -c 'ulimit -f 64; exec "$@"' - "$FEDSIGN" publish -c "$TMP/main/full.yaml"
err_has "File too large; nothing published was changed"
same_tree "7. failed write: publish-dir byte-identical" full "$PUB"
check "7. failed write: publication.json unchanged" cmp -s "$STATE/publication.json" "$TMP/publication.full"
check "7. failed write: no half-built release left" \
    bash -c "! ls -A '$PUB/releases' | grep -q '^[.]'"
fs 0 "7. the same run with room to write: published" publish -c "$TMP/main/full.yaml" -q
same_ids "7. ... hub.xml holds every member again" "$PUB/current/hub.xml" hub "$TMP/facts310.json"

# --- 8. --dry-run: everything but signing and the switch --------------------------

snap dry "$PUB"
cp "$STATE/publication.json" "$TMP/publication.dry"
L0=$(calls C_Login) S0=$(calls C_Sign)
NOTE="(dry)" conf "$TMP/main/dry.yaml"
fs 0 "8. --dry-run (exit 0)" publish -c "$TMP/main/dry.yaml" --dry-run -q
is "8. the report: a dry run that would publish" "$(jr "$R" '"%s %s" % (r.get("dryRun"), r["outcome"].split(";")[0])')" "True dry run: would publish"
is "8. ... hub.xml with every member again" "$(jr "$R" 'feed("hub.xml")["entities"]')" "$N_MEMBERS"
same_tree "8. publish-dir byte-identical" dry "$PUB"
check "8. publication.json unchanged" cmp -s "$STATE/publication.json" "$TMP/publication.dry"
is "8. the token was not used: no login, no signature" "$(( $(calls C_Login) - L0 )) $(( $(calls C_Sign) - S0 ))" "0 0"
# build_feeds opens the token only when not a dry run: a key that cannot
# be used does not matter.
KEY=$BAD_PIN_KEY conf "$TMP/main/badpin.yaml"
KEY=$NO_MODULE_KEY conf "$TMP/main/nomodule.yaml"
fs 0 "8. --dry-run with a wrong PIN file (exit 0)" publish -c "$TMP/main/badpin.yaml" --dry-run -q
fs 0 "8. --dry-run with a module that does not exist (exit 0)" publish -c "$TMP/main/nomodule.yaml" --dry-run -q
same_tree "8. still byte-identical" dry "$PUB"
is "8. still no login" "$(( $(calls C_Login) - L0 ))" 0

# --- 9. configuration errors: exit 2, FILE:LINE -------------------------------------

sed 's/^cache-duration: 6h/cache-duraton: 6h/' "$C" >"$TMP/main/typo.yaml"
line=$(grep -n '^cache-duraton' "$TMP/main/typo.yaml" | cut -d: -f1)
fs 2 "9. an unknown key: exit 2" publish -c "$TMP/main/typo.yaml"
err_has "$TMP/main/typo.yaml:$line: unknown key 'cache-duraton'"
err_has "did you mean 'cache-duration'"
sed 's/^cache-duration: 6h/cache-duration: 10d/' "$C" >"$TMP/main/cache.yaml"
line=$(grep -n '^cache-duration' "$TMP/main/cache.yaml" | cut -d: -f1)
fs 2 "9. cacheDuration not shorter than the validity: exit 2" publish -c "$TMP/main/cache.yaml"
err_has "$TMP/main/cache.yaml:$line: cache-duration 10d (line $line) is not shorter than validity 10d"
sed 's/^    cache-duration: 1h/    cache-duration: 7d/' "$C" >"$TMP/main/feedcache.yaml"
line=$(grep -n '^    cache-duration: 7d' "$TMP/main/feedcache.yaml" | cut -d: -f1)
fs 2 "9. a feed's cacheDuration not shorter than its validity: exit 2" publish -c "$TMP/main/feedcache.yaml"
err_has "$TMP/main/feedcache.yaml:$line: cache-duration 7d"
err_has "of feed 'sirtfi.xml'"
same_tree "9. publish-dir byte-identical" dry "$PUB"

# --- 10. token problems: exit 3 --------------------------------------------------

fs 3 "10. a wrong PIN in the PIN file: exit 3" publish -c "$TMP/main/badpin.yaml" -q
err_has "CKR_PIN_INCORRECT"
fs 3 "10. a module path that does not exist: exit 3" publish -c "$TMP/main/nomodule.yaml" -q
err_has "cannot load PKCS#11 module '$TMP/no-such-module.so'"
same_tree "10. publish-dir byte-identical" dry "$PUB"
check "10. no release folder left half-built" bash -c "! ls -a '$PUB/releases' | grep -q building"

# --- 11. the rule-file convention, with rule files written here -------------------

# A framework like check_framework.xsl (named templates that report with
# xsl:message and the level prefix; it matches the glob and is skipped by
# its name) and a rule file that imports it.
RD=$TMP/rules
mkdir -p "$RD/rules" "$RD/members" "$RD/broken"
cat >"$RD/rules/check_framework.xsl" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text"/>
  <xsl:template name="error"><xsl:param name="m"/>
    <xsl:message terminate="no">[ERROR] <xsl:value-of select="$m"/></xsl:message></xsl:template>
  <xsl:template name="warning"><xsl:param name="m"/>
    <xsl:message terminate="no">[WARN] <xsl:value-of select="$m"/></xsl:message></xsl:template>
  <xsl:template name="info"><xsl:param name="m"/>
    <xsl:message terminate="no">[INFO] <xsl:value-of select="$m"/></xsl:message></xsl:template>
  <xsl:template match="*"><xsl:apply-templates select="*"/></xsl:template>
</xsl:stylesheet>
EOF
cat >"$RD/rules/check_local.xsl" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">
  <xsl:import href="check_framework.xsl"/>
  <xsl:template match="md:EntityDescriptor[contains(@entityID, 'aco.net')]">
    <xsl:call-template name="error"><xsl:with-param name="m">ACOnet is not a member here</xsl:with-param></xsl:call-template>
  </xsl:template>
  <xsl:template match="md:EntityDescriptor[contains(@entityID, 'sharav')]">
    <xsl:call-template name="warning"><xsl:with-param name="m">sharav is on probation</xsl:with-param></xsl:call-template>
  </xsl:template>
  <xsl:template match="md:EntityDescriptor[contains(@entityID, 'skriptenforum')]">
    <xsl:call-template name="info"><xsl:with-param name="m">skriptenforum noted</xsl:with-param></xsl:call-template>
  </xsl:template>
</xsl:stylesheet>
EOF
printf '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">\n  <xsl:template match="md:EntityDescriptor[">\n  </xsl:template>\n</xsl:stylesheet>\n' \
    >"$RD/broken/check_broken.xsl"
cp "$TMP"/members/corpus-{idp.aco.net,sharav.abes.fr,skriptenforum.net}.xml "$TMP/members/entity-00002.xml" "$RD/members/"
rules_conf() { # FILE RULESGLOB
	cat >"$1" <<EOF
signing:
  key: "$KEY"
publish-dir: www
state-dir: state
validity: 10d
checks:
  schema: false
  rules: ["$2"]
sources:
  - name: members
    files: members/*.xml
    registration-authority: $FED_RA
feeds:
  - file: hub.xml
    sources: [members]
EOF
}
rules_conf "$RD/publish.yaml" "rules/check_*.xsl"
fs 0 "11. own rule files: published" publish -c "$RD/publish.yaml" -q
RR=$RD/state/last-report.json
has_finding "11. [ERROR] lands in the report as an error" "$RR" error check_local.xsl https://idp.aco.net/idp/shibboleth "ACOnet is not a member here"
has_finding "11. [WARN] lands as a warning" "$RR" warn check_local.xsl https://sharav.abes.fr/idp/shibboleth "sharav is on probation"
has_finding "11. [INFO] lands as an info" "$RR" info check_local.xsl https://skriptenforum.net/shibboleth "skriptenforum noted"
is "11. the framework itself is not run as a rule" "$(jr "$RR" 'len(findings(rule="check_framework.xsl"))')" 0
is "11. the [ERROR] entity is left out; the [WARN] and [INFO] ones stay" \
    "$(ids_of "$RD/www/current/hub.xml" | sort | tr '\n' ' ')" \
    "$(ids_of "$RD/members/entity-00002.xml") https://sharav.abes.fr/idp/shibboleth https://skriptenforum.net/shibboleth "
rules_conf "$RD/broken.yaml" "broken/check_*.xsl"
snap rules "$RD/www"
fs 2 "11. a rule file that does not compile: exit 2" publish -c "$RD/broken.yaml" -q
err_has "rule file '$RD/broken/check_broken.xsl' does not compile"
same_tree "11. ... and nothing changed" rules "$RD/www"

# --- 13. fedsign check -------------------------------------------------------------

cd "$SRCDIR" || exit 1
fs 1 "13. check bad.xml with the project's rules: exit 1" check tests/data/rules/bad.xml -r 'examples/rules/check_*.xsl'
cp "$TMP/out" "$TMP/bad.out"
check "13. it printed findings" test -s "$TMP/bad.out"
check "13. every line is FILE:LINE: LEVEL: ENTITYID: [RULE] MESSAGE" bash -c \
    "! grep -vE '^tests/data/rules/bad\.xml:[0-9]+: (error|warning|note): [^ ]+: \[[^]]+\] .' '$TMP/bad.out'"
check "13. the expected findings (tests/data/rules/expected.txt) are all reported" \
    python3 "$MD" checkcmp tests/data/rules/bad.xml tests/data/rules/expected.txt "$TMP/bad.out" expected
check "13. nothing else but the refused long entityID, schema errors and the RSA-1024 key" \
    python3 "$MD" checkcmp tests/data/rules/bad.xml tests/data/rules/expected.txt "$TMP/bad.out" extra
check "13. each LINE is inside the entity it names" \
    python3 "$MD" checkcmp tests/data/rules/bad.xml tests/data/rules/expected.txt "$TMP/bad.out" lines
fs 0 "13. check good.xml: exit 0" check tests/data/rules/good.xml -r 'examples/rules/check_*.xsl'
is "13. good.xml: no error lines" "$(grep -c ': error: ' "$TMP/out")" 0
fs 1 "13. check --json bad.xml: exit 1" check tests/data/rules/bad.xml -r 'examples/rules/check_*.xsl' --json
check "13. --json prints valid JSON" python3 -m json.tool "$TMP/out"
is "13. --json: as many errors as the text output" "$(jr "$TMP/out" 'r["counts"]["errors"]')" "$(grep -c ': error: ' "$TMP/bad.out")"
is "13. --json: outcome failed" "$(jr "$TMP/out" 'r["outcome"]')" failed
printf '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://broken.example.org/">\n<md:SPSSODescriptor>\n' \
    >"$TMP/malformed.xml"
fs 1 "13. a malformed file: exit 1" check "$TMP/malformed.xml"
out_has "$TMP/malformed.xml:"
out_has "not well-formed"
fs 4 "13. a missing file: exit 4" check "$TMP/no-such.xml"
err_has "cannot read '$TMP/no-such.xml'"
cd - >/dev/null || exit 1

# --- 15. a file: source rewritten while the run reads it ---------------------------

# The last good copy must be the bytes that verified.  tests/tools/openswap.c
# (LD_PRELOAD) rewrites the source file in place with the tampered upstream
# of section 4 at the Nth open(2) of it, as a download written straight
# into the file would; whichever open that is, the last good copy verifies,
# its recorded SHA-256 is its own, no feed holds the tampered value and no
# copy is left behind.
SW=$TMP/swap
mkdir -p "$SW"
cat >"$SW/publish.yaml" <<EOF2
signing:
  key: "$KEY"
publish-dir: www
state-dir: state
validity: 10d
sources:
  - name: upstream
    file: $SW/up.xml
    verify-cert: $TMP/upcert.pem
feeds:
  - file: up.xml
    sources: [upstream]
EOF2
cp "$TMP/up300.signed.xml" "$SW/up.xml"
fs 0 "15. a file: source, the first run" publish -c "$SW/publish.yaml" -q
check "15. its last good copy is the file" cmp -s "$SW/state/sources/upstream/last-good.xml" "$TMP/up300.signed.xml"
cp -a "$SW/state" "$SW/state.first"
cp -a "$SW/www" "$SW/www.first"
# swapfs N ARGS...: fedsign ARGS with up.xml rewritten at its Nth open
swapfs() {
	local n=$1; shift
	env LD_PRELOAD="$OPENSWAP" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
	    FS_SWAP_PATH="$SW/up.xml" FS_SWAP_WITH="$TMP/up310.tampered.xml" FS_SWAP_AT="$n" \
	    FS_SWAP_LOG="$SW/opens" "$FEDSIGN" "$@"
}
check "15. the preload library is built" test -f "$OPENSWAP"
for n in 1 2 3 4; do
	rm -rf "$SW/state" "$SW/www" "$SW/opens"
	cp -a "$SW/state.first" "$SW/state"
	cp -a "$SW/www.first" "$SW/www"
	cp "$TMP/up310.signed.xml" "$SW/up.xml"       # a new, good copy...
	expect 0 "15. rewritten at open $n: the run ends well" swapfs "$n" publish -c "$SW/publish.yaml" -q
	cat "$TMP/out" "$TMP/err" >>"$TRANSCRIPT"
	LG=$SW/state/sources/upstream/last-good.xml
	expect 0 "15. rewritten at open $n: the last good copy verifies" \
	    "$FEDSIGN" verify "$LG" --cert "$TMP/upcert.pem" -q
	is "15. rewritten at open $n: last-good.json has the copy's SHA-256" \
	    "$(jr "$SW/state/sources/upstream/last-good.json" 'r["sha256"]')" "$(sha256sum <"$LG" | cut -c1-64)"
	is "15. rewritten at open $n: no feed holds the tampered value" \
	    "$(grep -lF "=$TAMPERED" "$SW"/www/current/*.xml | wc -l)" 0
	check "15. rewritten at open $n: the last good copy is one of the two good ones" \
	    bash -c "cmp -s '$LG' '$TMP/up300.signed.xml' || cmp -s '$LG' '$TMP/up310.signed.xml'"
	check "15. rewritten at open $n: no copy left in state-dir" \
	    bash -c "! ls '$SW/state/sources/upstream' | grep -vqx 'last-good.xml\\|last-good.json'"
	grep -c swapped "$SW/opens" 2>/dev/null >>"$SW/swaps"
done
# The library did rewrite the file in some of those runs (not inert).
check "15. the file was rewritten during a run" grep -qx '[1-9]' "$SW/swaps"

# A state-dir with no room for the copy: the run fails, nothing changes
# (the last good copy must not stand in for a source that is fine).
SF=$TMP/swapfull
mkdir -p "$SF/state"
sed "s#^state-dir: state#state-dir: $SF/state#; s#^publish-dir: www#publish-dir: $SF/www#" \
    "$SW/publish.yaml" >"$SF/publish.yaml"
if mount -t tmpfs -o size=4m tmpfs "$SF/state"; then
	MOUNTED=$SF/state
	cp "$TMP/up300.signed.xml" "$SW/up.xml"
	fs 0 "15. state-dir on a small file system: the first run" publish -c "$SF/publish.yaml" -q
	cp "$TMP/up310.signed.xml" "$SW/up.xml"
	FREE=$(( $(df -k --output=avail "$SF/state" | tail -1) * 1024 ))
	fallocate -l $(( FREE - $(stat -c %s "$SW/up.xml") / 2 )) "$SF/state/filler"
	snap swapfull "$SF/www"
	fs 4 "15. no room in state-dir for the new copy: exit 4" publish -c "$SF/publish.yaml" -q
	err_has "No space left on device"
	check "15. ... the last good copy is as it was" cmp -s "$SF/state/sources/upstream/last-good.xml" "$TMP/up300.signed.xml"
	same_tree "15. ... publish-dir byte-identical" swapfull "$SF/www"
	check "15. ... no copy left in state-dir" \
	    bash -c "! ls '$SF/state/sources/upstream' | grep -vqx 'last-good.xml\\|last-good.json'"
	umount "$SF/state" && MOUNTED=
else
	nok "15. cannot mount a small tmpfs for state-dir (run as root)"
fi

# --- 16. keep-releases: older releases go ------------------------------------------

KR=$TMP/keep
mkdir -p "$KR"
sed "s#^publish-dir: www#publish-dir: $KR/www#; s#^state-dir: state#state-dir: $KR/state\nkeep-releases: 2#" \
    "$SW/publish.yaml" >"$KR/publish.yaml"
# All three at one FEDSIGN_NOW: their release names share the second and
# sort by their random suffix, so the live one need not be the first.
KNOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for v in 300 310 300; do
	cp "$TMP/up$v.signed.xml" "$SW/up.xml"
	mkdir -p "$KR/www/releases/.building-20000101T000000Z-000000"
	FEDSIGN_NOW=$KNOW fs 0 "16. a run with up$v (keep-releases: 2)" publish -c "$KR/publish.yaml" -q
	is "16. ... published" "$(jr "$KR/state/last-report.json" 'r["outcome"]')" published
done
is "16. two releases are left" "$(ls "$KR/www/releases" | wc -l)" 2
check "16. ... the live one among them" test -d "$KR/www/$(readlink "$KR/www/current")"
is "16. ... and no half-built one (what a killed run leaves)" "$(ls -A "$KR/www/releases" | grep -c '^[.]')" 0

# --- the PIN never shows -------------------------------------------------------------

check "fedsign printed something (the transcript is not empty)" test -s "$TRANSCRIPT"
check "the PIN is in no output of any fedsign command" bash -c "! grep -qF -e '$PIN' -e '$WRONG_PIN' '$TRANSCRIPT'"

done_testing
