#!/usr/bin/env python3
"""gen-aggregate.py - make an unsigned, eduGAIN-shaped SAML metadata aggregate.

usage: gen-aggregate.py N OUT.xml [--seed S] [--certs DIR]

Writes one md:EntitiesDescriptor holding N EntityDescriptors, the way an
inter-federation feed looks: IdPs and SPs (about 45% IdPs) registered by
some forty federations, with mdrpi:RegistrationInfo, mdattr entity
categories and Sirtfi, shibmd:Scope, mdui in several languages (many names
are not ASCII), contacts including REFEDS security contacts, Organization,
SSO/ACS/SLO endpoints of the usual products, occasional comments, and
entities in both the prefixed (md:) and the default-namespace form.  Each
entity declares its own namespaces, so any one of them stands alone.

KeyDescriptors carry real self-signed X.509 certificates (RSA 2048, 3072
and 4096 bits) from a pool made once with openssl in DIR (default:
$TMPDIR/fedsign-gen-aggregate-certs) and reused.  The output depends only on
N, the seed (default 1) and the pool: the same arguments give the same
bytes.  Size: about 6 kB per entity (10,000 entities: about 60 MB).

Standard library only, plus the openssl command for the certificate pool.
Used by tests/cli (test_sign.sh, test_interop.sh) and bench/bench-sign.sh.
"""
import argparse
import os
import random
import re
import subprocess
import sys
import tempfile

NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_MDRPI = "urn:oasis:names:tc:SAML:metadata:rpi"
NS_MDATTR = "urn:oasis:names:tc:SAML:metadata:attribute"
NS_MDUI = "urn:oasis:names:tc:SAML:metadata:ui"
NS_SHIBMD = "urn:mace:shibboleth:metadata:1.0"
NS_IDPDISC = "urn:oasis:names:tc:SAML:profiles:SSO:idp-discovery-protocol"
NS_INIT = "urn:oasis:names:tc:SAML:profiles:SSO:request-init"
NS_REMD = "http://refeds.org/metadata"
NS_ALG = "urn:oasis:names:tc:SAML:metadata:algsupport"

BIND = "urn:oasis:names:tc:SAML:2.0:bindings:"
SAML2 = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML11 = "urn:oasis:names:tc:SAML:1.1:protocol"
SHIB1 = "urn:mace:shibboleth:1.0"
URI_FMT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"

# --- the certificate pool -----------------------------------------------------

# (bits, subject): most members use RSA-2048, some 3072 and 4096.
POOL = [
    (2048, "/CN=idp.example.org"),
    (2048, "/CN=sso.example.de"),
    (2048, "/CN=sp.example.edu"),
    (2048, "/C=GB/O=Example College/CN=shib.example.ac.uk"),
    (2048, "/CN=login.example.fr"),
    (2048, "/C=SE/CN=saml.example.se"),
    (2048, "/CN=weblogin.example.net"),
    (2048, "/CN=idp.example.it"),
    (2048, "/CN=aai.example.at"),
    (3072, "/CN=shibboleth.example.org"),
    (3072, "/C=JP/O=Example Daigaku/CN=idp.example.ac.jp"),
    (4096, "/CN=federation.example.ac.za"),
]


def _pem_body(path):
    """The base64 of the first certificate in PEM file PATH, no whitespace,
    or None when the file is missing or is not a certificate."""
    try:
        with open(path, encoding="ascii") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return None
    m = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S)
    if not m:
        return None
    body = re.sub(r"\s+", "", m.group(1))
    return body or None


def cert_pool(folder):
    """Make the pool's missing certificates in FOLDER (all at once, in
    parallel) and return [(bits, base64 DER)] in pool order.  Each file is
    written beside its final name and renamed into place, so a run that
    shares FOLDER never sees half a file."""
    os.makedirs(folder, exist_ok=True)
    names = [os.path.join(folder, "member-%02d-rsa%d.pem" % (n, bits))
             for n, (bits, _) in enumerate(POOL)]
    jobs = []
    for path, (bits, subj) in zip(names, POOL):
        if _pem_body(path):
            continue
        tmp = tempfile.mkdtemp(prefix=".new-", dir=folder)
        cmd = ["openssl", "req", "-x509", "-newkey", "rsa:%d" % bits, "-nodes", "-sha256",
               "-keyout", os.path.join(tmp, "key.pem"), "-out", os.path.join(tmp, "cert.pem"),
               "-days", "7300", "-subj", subj]
        jobs.append((path, tmp, subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.PIPE)))
    failed = None
    for path, tmp, proc in jobs:
        err = proc.communicate()[1]
        if proc.returncode == 0:
            os.replace(os.path.join(tmp, "cert.pem"), path)
        elif failed is None:
            failed = "openssl req failed for %s: %s" % (path, err.decode(errors="replace").strip())
        for leftover in ("key.pem", "cert.pem"):
            try:
                os.unlink(os.path.join(tmp, leftover))
            except FileNotFoundError:
                pass
        os.rmdir(tmp)
    if failed:
        sys.exit("gen-aggregate: " + failed)
    pool = []
    for path, (bits, _) in zip(names, POOL):
        body = _pem_body(path)
        if not body:
            sys.exit("gen-aggregate: %s is not a PEM certificate" % path)
        pool.append((bits, body))
    return pool


# --- what federations and their members look like ------------------------------

# (registrationAuthority, host code, weight, languages besides English, cities);
# the entities of the federations in PRETTY are indented, the others flat.
FEDERATIONS = [
    ("https://incommon.org", "us", 18, [], ["Ann Arbor", "Berkeley", "Austin", "Madison", "Chapel Hill"]),
    ("http://ukfederation.org.uk", "uk", 10, ["cy"], ["Edinburgh", "Cardiff", "Oxford", "Leeds"]),
    ("https://www.aai.dfn.de", "de", 8, ["de"], ["Köln", "München", "Göttingen", "Lübeck"]),
    ("https://federation.renater.fr/", "fr", 6, ["fr"], ["Paris", "Orléans", "Besançon", "Nîmes"]),
    ("http://www.idem.garr.it/", "it", 5, ["it"], ["Bologna", "Forlì", "Padova", "Cagliari"]),
    ("http://rr.aai.switch.ch/", "ch", 4, ["de", "fr", "it"], ["Zürich", "Genève", "Neuchâtel", "Lugano"]),
    ("http://www.swamid.se/", "se", 4, ["sv"], ["Malmö", "Umeå", "Linköping", "Lund"]),
    ("https://www.gakunin.jp", "jp", 4, ["ja"], ["Tōkyō", "Kyōto", "Ōsaka", "Sendai"]),
    ("http://www.surfconext.nl/", "nl", 3, ["nl"], ["Utrecht", "Leiden", "Groningen"]),
    ("http://www.csc.fi/haka", "fi", 3, ["fi", "sv"], ["Jyväskylä", "Helsinki", "Oulu"]),
    ("http://www.rediris.es/", "es", 3, ["es", "ca"], ["Alcalá", "Málaga", "Córdoba", "León"]),
    ("https://aaf.edu.au", "au", 3, [], ["Brisbane", "Perth", "Hobart"]),
    ("http://www.canarie.ca", "ca", 3, ["fr"], ["Montréal", "Québec", "Toronto"]),
    ("https://www.carsi.edu.cn", "cn", 3, ["zh"], ["Běijīng", "Nánjīng", "Wǔhàn"]),
    ("https://cafe.rnp.br", "br", 3, ["pt"], ["São Paulo", "Brasília", "Belém"]),
    ("https://aai.pionier.net.pl", "pl", 2, ["pl"], ["Kraków", "Łódź", "Gdańsk", "Poznań"]),
    ("http://www.eduid.cz/", "cz", 2, ["cs"], ["Brno", "Plzeň", "České Budějovice"]),
    ("http://aai.grnet.gr/", "gr", 2, ["el"], ["Αθήνα", "Θεσσαλονίκη", "Πάτρα"]),
    ("http://feide.no/", "no", 2, ["nb"], ["Tromsø", "Bergen", "Trondheim"]),
    ("https://www.wayf.dk", "dk", 2, ["da"], ["Århus", "Aalborg", "Roskilde"]),
    ("https://safire.ac.za", "za", 2, ["af"], ["Cape Town", "Durban", "Stellenbosch"]),
    ("http://eduid.at", "at", 2, ["de"], ["Wien", "Graz", "Innsbruck"]),
    ("http://federation.belnet.be/", "be", 1, ["nl", "fr"], ["Gent", "Liège", "Leuven"]),
    ("https://www.kafe.or.kr", "kr", 1, ["ko"], ["Seoul", "Daejeon"]),
    ("http://edugate.heanet.ie", "ie", 1, ["ga"], ["Galway", "Cork"]),
    ("https://fedurus.ru", "ru", 1, ["ru"], ["Новосибирск", "Казань"]),
    ("https://peano.uran.ua", "ua", 1, ["uk"], ["Київ", "Харків"]),
    ("http://eduid.hu", "hu", 1, ["hu"], ["Szeged", "Pécs", "Győr"]),
    ("https://iif.iucc.ac.il", "il", 1, ["he"], ["Haifa", "Beersheba"]),
    ("https://yetkim.org.tr", "tr", 1, ["tr"], ["İzmir", "Eskişehir"]),
    ("https://www.fccn.pt", "pt", 1, ["pt"], ["Évora", "Coimbra"]),
    ("http://aai.arnes.si", "si", 1, ["sl"], ["Ljubljana", "Maribor"]),
    ("http://taat.edu.ee", "ee", 1, ["et"], ["Tartu", "Tallinn"]),
    ("http://www.aaiedu.hr", "hr", 1, ["hr"], ["Zagreb", "Split"]),
    ("https://www.infed.ac.in", "in", 1, ["hi"], ["Pune", "Chennai"]),
    ("https://cofre.reuna.cl", "cl", 1, ["es"], ["Valparaíso", "Concepción"]),
    ("https://www.kenet.or.ke", "ke", 1, [], ["Nairobi", "Eldoret"]),
    ("http://www.lanet.lv", "lv", 1, ["lv"], ["Rīga", "Daugavpils"]),
]

PRETTY = ("http://ukfederation.org.uk", "http://rr.aai.switch.ch/", "http://www.csc.fi/haka",
          "http://www.eduid.cz/", "http://eduid.at")

# lang -> the names of the two kinds of member institution: a university
# and a technical one.  A member has one kind, named in each of its languages.
ORG_NAMES = {
    "en": ["University of {c}", "{c} Institute of Technology"],
    "cy": ["Prifysgol {c}", "Prifysgol Dechnoleg {c}"],
    "de": ["Universität {c}", "Technische Hochschule {c}"],
    "fr": ["Université de {c}", "Institut polytechnique de {c}"],
    "it": ["Università degli Studi di {c}", "Politecnico di {c}"],
    "sv": ["{c} universitet", "Tekniska högskolan i {c}"],
    "ja": ["{c}大学", "{c}工業大学"],
    "nl": ["Universiteit {c}", "Technische Universiteit {c}"],
    "fi": ["{c}n yliopisto", "{c}n teknillinen yliopisto"],
    "es": ["Universidad de {c}", "Universidad Politécnica de {c}"],
    "ca": ["Universitat de {c}", "Universitat Politècnica de {c}"],
    "zh": ["{c}大学", "{c}理工大学"],
    "pt": ["Universidade de {c}", "Instituto Politécnico de {c}"],
    "pl": ["Uniwersytet w {c}", "Politechnika w {c}"],
    "cs": ["Univerzita {c}", "Technická univerzita {c}"],
    "el": ["Πανεπιστήμιο {c}", "Πολυτεχνείο {c}"],
    "nb": ["Universitetet i {c}", "Teknisk universitet i {c}"],
    "da": ["{c} Universitet", "{c} Tekniske Universitet"],
    "af": ["Universiteit van {c}", "Tegniese Universiteit van {c}"],
    "ko": ["{c}대학교", "{c}과학기술원"],
    "ga": ["Ollscoil {c}", "Institiúid Teicneolaíochta {c}"],
    "ru": ["Университет {c}", "Технический университет {c}"],
    "uk": ["Університет {c}", "Технічний університет {c}"],
    "hu": ["{c}i Tudományegyetem", "{c}i Műszaki Egyetem"],
    "he": ["אוניברסיטת {c}", "המכון הטכנולוגי {c}"],
    "tr": ["{c} Üniversitesi", "{c} Teknik Üniversitesi"],
    "sl": ["Univerza v {c}", "Tehniška fakulteta v {c}"],
    "et": ["{c} Ülikool", "{c} Tehnikaülikool"],
    "hr": ["Sveučilište u {c}", "Tehničko veleučilište u {c}"],
    "hi": ["{c} विश्वविद्यालय", "{c} प्रौद्योगिकी संस्थान"],
    "lv": ["{c} Universitāte", "{c} Tehniskā universitāte"],
}
# lang -> (the IdP's "login" word, its description, an SP's description):
# the languages here get an mdui:Description, the others a DisplayName only.
UI_TEXT = {
    "en": ("Login", "Login for staff, students & guests of {o}.", "{s} of {o}: {d}."),
    "de": ("Anmeldung", "Anmeldung für Beschäftigte, Studierende & Gäste: {o}.", "{s} für Angehörige: {o}."),
    "fr": ("Connexion", "Connexion du personnel & des étudiants : {o}.", "{s} pour les membres : {o}."),
    "it": ("Accesso", "Accesso per personale e studenti: {o}.", "{s} per gli utenti: {o}."),
    "es": ("Acceso", "Acceso para personal y estudiantes: {o}.", "{s} para la comunidad: {o}."),
    "sv": ("Inloggning", "Inloggning för anställda & studenter vid {o}.", "{s} för medlemmar: {o}."),
    "ja": ("ログイン", "{o}の教職員・学生用ログイン。", "{o}の{s}。"),
    "zh": ("登录", "{o}师生统一身份认证。", "{o}的{s}。"),
    "el": ("Σύνδεση", "Σύνδεση προσωπικού & φοιτητών: {o}.", "{s} για μέλη: {o}."),
    "ru": ("Вход", "Вход для сотрудников и студентов: {o}.", "{s} для пользователей: {o}."),
    "nl": ("Inloggen", "Inloggen voor medewerkers & studenten: {o}.", "{s} voor leden: {o}."),
    "pt": ("Acesso", "Acesso de docentes & estudantes: {o}.", "{s} para a comunidade: {o}."),
    "pl": ("Logowanie", "Logowanie pracowników i studentów: {o}.", "{s} dla użytkowników: {o}."),
    "fi": ("Kirjautuminen", "Henkilökunnan ja opiskelijoiden kirjautuminen: {o}.", "{s}: {o}."),
    "cs": ("Přihlášení", "Přihlášení zaměstnanců a studentů: {o}.", "{s} pro členy: {o}."),
    "ko": ("로그인", "{o} 통합 로그인.", "{o} {s}."),
    "he": ("כניסה", "כניסה לסגל ולסטודנטים: {o}.", "{s}: {o}."),
    "tr": ("Giriş", "{o} personel ve öğrenci girişi.", "{o} {s}."),
}
SERVICES = [
    ("Research Data Repository", "research data, with DOIs for every published data set"),
    ("Library Proxy", "licensed journals, e-books and databases of the library"),
    ("Learning Management System", "courses, assignments and exams"),
    ("Video Conferencing", "meetings, lectures and webinars"),
    ("Wiki & Collaboration", "project spaces, wikis and shared documents"),
    ("HPC Portal", "accounts and job submission on the compute clusters"),
    ("FileSender", "sending large files to colleagues"),
    ("Survey Tool", "questionnaires for research and teaching"),
    ("Journal Platform", "full-text articles of the consortium's journals"),
    ("e-Infrastructure Gateway", "cloud, storage and grid resources for research communities"),
]
GIVEN = ["Anna", "Søren", "José", "Zoë", "Łukasz", "Jürgen", "Ólafur", "Mário", "Jiří", "Chloé",
         "Siobhán", "Björn", "Ingrid", "Rafał", "Αλέξανδρος", "Наталья", "Ken", "Priya",
         "Ayşe", "Matti", "Pieter", "Giulia", "Thandiwe", "Ming", "Sarah", "Mohammed"]
SURNAMES = ["Müller", "Nørgaard", "García", "O'Brien", "Kowalski", "Dvořák", "Rossi", "Smith",
            "Lindqvist", "Virtanen", "de Vries", "Nakamura", "Dubois", "Silva", "Yılmaz",
            "Παπαδόπουλος", "Иванова", "Naidoo", "Chen", "Kumar"]

SP_CATEGORIES = [  # (URI, probability)
    ("http://refeds.org/category/research-and-scholarship", 0.30),
    ("http://www.geant.net/uri/dataprotection-code-of-conduct/v1", 0.18),
    ("https://refeds.org/category/code-of-conduct/v2", 0.10),
    ("https://refeds.org/category/personalized", 0.05),
    ("https://refeds.org/category/pseudonymous", 0.04),
    ("https://refeds.org/category/anonymous", 0.03),
]
IDP_SUPPORT = [
    ("http://refeds.org/category/research-and-scholarship", 0.45),
    ("http://www.geant.net/uri/dataprotection-code-of-conduct/v1", 0.25),
    ("https://refeds.org/category/code-of-conduct/v2", 0.12),
]
REQUESTED = [  # (FriendlyName, Name)
    ("eduPersonPrincipalName", "urn:oid:1.3.6.1.4.1.5923.1.1.1.6"),
    ("mail", "urn:oid:0.9.2342.19200300.100.1.3"),
    ("displayName", "urn:oid:2.16.840.1.113730.3.1.241"),
    ("givenName", "urn:oid:2.5.4.42"),
    ("sn", "urn:oid:2.5.4.4"),
    ("eduPersonScopedAffiliation", "urn:oid:1.3.6.1.4.1.5923.1.1.1.9"),
    ("eduPersonEntitlement", "urn:oid:1.3.6.1.4.1.5923.1.1.1.7"),
    ("schacHomeOrganization", "urn:oid:1.3.6.1.4.1.25178.1.2.9"),
    ("eduPersonAssurance", "urn:oid:1.3.6.1.4.1.5923.1.1.1.11"),
    ("subject-id", "urn:oasis:names:tc:SAML:attribute:subject-id"),
    ("pairwise-id", "urn:oasis:names:tc:SAML:attribute:pairwise-id"),
]
ENC_METHODS = ["http://www.w3.org/2009/xmlenc11#aes128-gcm", "http://www.w3.org/2009/xmlenc11#aes256-gcm",
               "http://www.w3.org/2001/04/xmlenc#aes256-cbc", "http://www.w3.org/2009/xmlenc11#rsa-oaep",
               "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"]


# --- a small XML writer ---------------------------------------------------------

def esc_text(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def esc_attr(s):
    return esc_text(s).replace('"', "&quot;")


class Doc:
    """XML, one element per line, indented by STEP per level (federations
    differ: some publish pretty-printed, some flat); md elements take the
    entity's prefix (md: or none)."""

    def __init__(self, md, step, depth=0):
        self.md = md
        self.step = step
        self.lines = []
        self.depth = depth

    def _name(self, tag):
        return self.md + tag[3:] if tag.startswith("md:") else tag

    @staticmethod
    def _attrs(attrs):
        return "".join(' %s="%s"' % (k, esc_attr(v)) for k, v in attrs if v is not None)

    def open(self, tag, *attrs):
        self.lines.append(self.step * self.depth + "<%s%s>" % (self._name(tag), self._attrs(attrs)))
        self.depth += 1

    def close(self, tag):
        self.depth -= 1
        self.lines.append(self.step * self.depth + "</%s>" % self._name(tag))

    def leaf(self, tag, text=None, *attrs):
        n = self._name(tag)
        if text is None:
            self.lines.append(self.step * self.depth + "<%s%s/>" % (n, self._attrs(attrs)))
        else:
            self.lines.append(self.step * self.depth + "<%s%s>%s</%s>" % (n, self._attrs(attrs), esc_text(text), n))

    def raw(self, text, indent=True):
        self.lines.append((self.step * self.depth if indent else "") + text)

    def text(self):
        return "\n".join(self.lines)


def lang_attr(lang):
    return ("xml:lang", lang)


# --- one entity -------------------------------------------------------------------

class Member:
    """The facts one entity is written from, all drawn from RND."""

    def __init__(self, i, rnd, pool, feds, weights):
        self.i = i
        self.rnd = rnd
        fed = rnd.choices(feds, weights)[0]
        self.authority, self.cc, _, local, cities = fed
        self.city = rnd.choice(cities)
        self.langs = ["en"] + [l for l in local if l in ORG_NAMES]
        self.domain = "inst%d.%s.example.org" % (i, self.cc)
        self.idp = rnd.random() < 0.45
        self.software = rnd.choices(["shib", "ssp", "adfs", "other"],
                                    [60, 20, 8, 12] if self.idp else [50, 25, 0, 25])[0]
        self.host = ("idp." if self.idp else rnd.choice(["sp.", "www.", "portal.", "lib.", ""])) + self.domain
        self.service = rnd.choice(SERVICES)
        self.kind = rnd.choices([0, 1], [75, 25])[0]
        self.org = {l: ORG_NAMES[l][self.kind].format(c=self.city) for l in self.langs}
        self.sirtfi = rnd.random() < 0.30
        # keys: one certificate, sometimes split by use, sometimes a rollover
        a, b = rnd.sample(range(len(pool)), 2)
        pattern = rnd.choices(["one", "split", "split+next", "two"], [40, 36, 14, 10])[0]
        self.keys = {"one": [(None, a)],
                     "split": [("signing", a), ("encryption", a)],
                     "split+next": [("signing", a), ("encryption", a), ("signing", b)],
                     "two": [(None, a), (None, b)]}[pattern]
        self.pool = pool

    def url(self, path):
        return "https://%s%s" % (self.host, path)


def entity_id(m):
    if m.idp:
        return {"shib": m.url("/idp/shibboleth"),
                "ssp": m.url("/simplesaml/saml2/idp/metadata.php"),
                "adfs": "http://%s/adfs/services/trust" % m.host,
                "other": m.url("/realms/%s" % m.cc)}[m.software]
    if m.software == "shib":
        return m.url("/shibboleth")
    if m.software == "ssp":
        return m.url("/simplesaml/module.php/saml/sp/metadata.php/default-sp")
    return m.rnd.choice([m.url("/saml2/metadata"), m.url("/sp"),
                         "urn:mace:%s:%s:sp%d" % (m.cc, m.domain.split(".")[0], m.i),
                         m.url("/Shibboleth.sso/Metadata?target=sp&lang=en")])


def registration(d, m):
    rnd = m.rnd
    when = "%04d-%02d-%02dT%02d:%02d:%02dZ" % (rnd.randint(2009, 2025), rnd.randint(1, 12),
                                               rnd.randint(1, 28), rnd.randint(0, 23),
                                               rnd.randint(0, 59), rnd.randint(0, 59))
    d.open("mdrpi:RegistrationInfo", ("xmlns:mdrpi", NS_MDRPI),
           ("registrationAuthority", m.authority), ("registrationInstant", when))
    base = m.authority.rstrip("/")
    d.leaf("mdrpi:RegistrationPolicy", base + "/policy/mrps", lang_attr("en"))
    if len(m.langs) > 1 and rnd.random() < 0.3:
        d.leaf("mdrpi:RegistrationPolicy", base + "/%s/policy" % m.langs[1], lang_attr(m.langs[1]))
    d.close("mdrpi:RegistrationInfo")


def entity_attributes(d, m):
    rnd = m.rnd
    values = []   # (Name, [values])
    if m.idp:
        support = [u for u, p in IDP_SUPPORT if rnd.random() < p]
        if support:
            values.append(("http://macedir.org/entity-category-support", support))
        if rnd.random() < 0.04:
            values.append(("http://macedir.org/entity-category",
                           ["http://refeds.org/category/hide-from-discovery"]))
        if rnd.random() < 0.10:
            values.append(("urn:oasis:names:tc:SAML:attribute:assurance-certification",
                           ["https://refeds.org/assurance"]))
    else:
        cats = [u for u, p in SP_CATEGORIES if rnd.random() < p]
        if cats:
            values.append(("http://macedir.org/entity-category", cats))
        if rnd.random() < 0.10:
            values.append(("urn:oasis:names:tc:SAML:profiles:subject-id:req",
                           [rnd.choice(["any", "subject-id", "pairwise-id"])]))
    if m.sirtfi:
        certs = ["https://refeds.org/sirtfi"] + (["https://refeds.org/sirtfi2"] if rnd.random() < 0.15 else [])
        found = [v for v in values if v[0].endswith("assurance-certification")]
        if found:
            found[0][1][:0] = certs
        else:
            values.append(("urn:oasis:names:tc:SAML:attribute:assurance-certification", certs))
    if not values:
        return
    # the saml namespace declared once (pyFF style) or on each Attribute
    once = rnd.random() < 0.5
    d.open("mdattr:EntityAttributes", ("xmlns:mdattr", NS_MDATTR),
           ("xmlns:saml", NS_SAML) if once else (None, None))
    for name, vals in values:
        d.open("saml:Attribute", (None, None) if once else ("xmlns:saml", NS_SAML),
               ("Name", name), ("NameFormat", URI_FMT))
        for v in vals:
            d.leaf("saml:AttributeValue", v)
        d.close("saml:Attribute")
    d.close("mdattr:EntityAttributes")


def display_name(m, lang):
    org = m.org[lang]
    if m.idp:
        word = UI_TEXT.get(lang, ("",))[0]
        return "%s %d" % (org, m.i) if not word or m.rnd.random() < 0.7 else "%s %d – %s" % (org, m.i, word)
    return "%s – %s %d" % (m.service[0], org, m.i)


def ui_info(d, m):
    rnd = m.rnd
    langs = list(m.langs)
    if rnd.random() < 0.15:
        langs += rnd.sample([l for l in ("ja", "zh", "el", "ru", "de", "fr", "es", "ko")
                             if l not in langs], 1)
        m.org.setdefault(langs[-1], ORG_NAMES[langs[-1]][m.kind].format(c=m.city))
    langs = langs[:3]
    d.open("mdui:UIInfo", ("xmlns:mdui", NS_MDUI))
    for l in langs:
        d.leaf("mdui:DisplayName", display_name(m, l), lang_attr(l))
    for l in langs:
        if l in UI_TEXT:
            text = UI_TEXT[l][1 if m.idp else 2].format(o=m.org[l], s=m.service[0], d=m.service[1])
            d.leaf("mdui:Description", text, lang_attr(l))
    if rnd.random() < 0.15:
        d.leaf("mdui:Keywords", "%s %s research education" % (m.city.replace(" ", "+"), m.cc),
               lang_attr("en"))
    if rnd.random() < 0.8:
        d.leaf("mdui:InformationURL", m.url("/about"), lang_attr("en"))
        if len(m.langs) > 1 and rnd.random() < 0.5:
            d.leaf("mdui:InformationURL", m.url("/%s/about" % m.langs[1]), lang_attr(m.langs[1]))
    if rnd.random() < (0.7 if m.idp else 0.9):
        d.leaf("mdui:PrivacyStatementURL", m.url("/privacy"), lang_attr("en"))
    if rnd.random() < 0.75:
        w, h = rnd.choice([(80, 60), (16, 16), (200, 60), (120, 120), (300, 100)])
        d.leaf("mdui:Logo", m.url("/logo-%dx%d.png" % (w, h)), ("height", str(h)), ("width", str(w)))
    d.close("mdui:UIInfo")
    if m.idp and rnd.random() < 0.15:
        d.open("mdui:DiscoHints", ("xmlns:mdui", NS_MDUI))
        d.leaf("mdui:DomainHint", m.domain)
        if rnd.random() < 0.5:
            d.leaf("mdui:IPHint", "192.0.2.%d/28" % (16 * rnd.randint(0, 15)))
        if rnd.random() < 0.5:
            d.leaf("mdui:GeolocationHint", "geo:%.4f,%.4f" % (rnd.uniform(-60, 70), rnd.uniform(-180, 180)))
        d.close("mdui:DiscoHints")


def key_descriptors(d, m):
    rnd = m.rnd
    wrap = rnd.random() < 0.85            # 64-column lines, else one long line
    for use, k in m.keys:
        bits, body = m.pool[k]
        d.open("md:KeyDescriptor", ("use", use))
        d.open("ds:KeyInfo", ("xmlns:ds", NS_DS))
        if rnd.random() < 0.1:
            d.leaf("ds:KeyName", m.host)
        d.open("ds:X509Data")
        if wrap:
            d.raw("<ds:X509Certificate>")
            for j in range(0, len(body), 64):
                d.raw(body[j:j + 64], indent=False)
            d.raw("</ds:X509Certificate>")
        else:
            d.raw("<ds:X509Certificate>%s</ds:X509Certificate>" % body)
        d.close("ds:X509Data")
        d.close("ds:KeyInfo")
        if use == "encryption" and rnd.random() < 0.3:
            for alg in rnd.sample(ENC_METHODS, rnd.randint(1, 2)):
                d.leaf("md:EncryptionMethod", None, ("Algorithm", alg))
        d.close("md:KeyDescriptor")


def idp_role(d, m):
    rnd = m.rnd
    saml1 = m.software == "shib" and rnd.random() < 0.3
    protos = SAML2 + (" %s %s" % (SAML11, SHIB1) if saml1 else "")
    d.open("md:IDPSSODescriptor", ("protocolSupportEnumeration", protos))
    d.open("md:Extensions")
    if m.software in ("shib", "ssp") or rnd.random() < 0.5:
        d.leaf("shibmd:Scope", m.domain, ("xmlns:shibmd", NS_SHIBMD), ("regexp", "false"))
        if rnd.random() < 0.1:
            d.leaf("shibmd:Scope", "^.+\\.%s$" % re.escape(m.domain), ("xmlns:shibmd", NS_SHIBMD),
                   ("regexp", "true"))
    ui_info(d, m)
    d.close("md:Extensions")
    key_descriptors(d, m)
    if m.software == "shib":
        if rnd.random() < 0.3:
            d.leaf("md:ArtifactResolutionService", None, ("Binding", BIND + "SOAP"),
                   ("Location", m.url(":8443/idp/profile/SAML2/SOAP/ArtifactResolution")), ("index", "1"))
        if rnd.random() < 0.25:
            for b in ("HTTP-Redirect", "HTTP-POST"):
                d.leaf("md:SingleLogoutService", None, ("Binding", BIND + b),
                       ("Location", m.url("/idp/profile/SAML2/%s/SLO" % b.split("-")[1])))
        d.leaf("md:NameIDFormat", "urn:oasis:names:tc:SAML:2.0:nameid-format:transient")
        if rnd.random() < 0.4:
            d.leaf("md:NameIDFormat", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")
        if saml1:
            d.leaf("md:SingleSignOnService", None, ("Binding", "urn:mace:shibboleth:1.0:profiles:AuthnRequest"),
                   ("Location", m.url("/idp/profile/Shibboleth/SSO")))
        for b, p in (("HTTP-POST", "POST"), ("HTTP-POST-SimpleSign", "POST-SimpleSign"),
                     ("HTTP-Redirect", "Redirect")):
            if b == "HTTP-POST-SimpleSign" and rnd.random() < 0.5:
                continue
            d.leaf("md:SingleSignOnService", None, ("Binding", BIND + b),
                   ("Location", m.url("/idp/profile/SAML2/%s/SSO" % p)))
        if rnd.random() < 0.3:
            d.leaf("md:SingleSignOnService", None, ("Binding", BIND + "SOAP"),
                   ("Location", m.url("/idp/profile/SAML2/SOAP/ECP")))
    elif m.software == "ssp":
        d.leaf("md:SingleLogoutService", None, ("Binding", BIND + "HTTP-Redirect"),
               ("Location", m.url("/simplesaml/saml2/idp/SingleLogoutService.php")))
        d.leaf("md:NameIDFormat", "urn:oasis:names:tc:SAML:2.0:nameid-format:transient")
        d.leaf("md:SingleSignOnService", None, ("Binding", BIND + "HTTP-Redirect"),
               ("Location", m.url("/simplesaml/saml2/idp/SSOService.php")))
    elif m.software == "adfs":
        for b in ("HTTP-Redirect", "HTTP-POST"):
            d.leaf("md:SingleLogoutService", None, ("Binding", BIND + b), ("Location", m.url("/adfs/ls/")))
        for f in ("1.1:nameid-format:emailAddress", "2.0:nameid-format:persistent",
                  "2.0:nameid-format:transient"):
            d.leaf("md:NameIDFormat", "urn:oasis:names:tc:SAML:" + f)
        for b in ("HTTP-Redirect", "HTTP-POST"):
            d.leaf("md:SingleSignOnService", None, ("Binding", BIND + b), ("Location", m.url("/adfs/ls/")))
    else:
        base = "/realms/%s/protocol/saml" % m.cc
        d.leaf("md:SingleLogoutService", None, ("Binding", BIND + "HTTP-POST"), ("Location", m.url(base)))
        d.leaf("md:NameIDFormat", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")
        for b in ("HTTP-POST", "HTTP-Redirect"):
            d.leaf("md:SingleSignOnService", None, ("Binding", BIND + b), ("Location", m.url(base)))
    d.close("md:IDPSSODescriptor")
    if m.software == "shib" and rnd.random() < 0.15:
        d.open("md:AttributeAuthorityDescriptor", ("protocolSupportEnumeration", protos))
        d.open("md:Extensions")
        d.leaf("shibmd:Scope", m.domain, ("xmlns:shibmd", NS_SHIBMD), ("regexp", "false"))
        d.close("md:Extensions")
        d.leaf("md:AttributeService", None, ("Binding", BIND + "SOAP"),
               ("Location", m.url(":8443/idp/profile/SAML2/SOAP/AttributeQuery")))
        d.close("md:AttributeAuthorityDescriptor")


def sp_role(d, m):
    rnd = m.rnd
    attrs = [("protocolSupportEnumeration", SAML2 + (" " + SAML11 if rnd.random() < 0.1 else ""))]
    if rnd.random() < 0.3:
        attrs.append(("AuthnRequestsSigned", "true"))
    if rnd.random() < 0.3:
        attrs.append(("WantAssertionsSigned", "true"))
    d.open("md:SPSSODescriptor", *attrs)
    d.open("md:Extensions")
    if m.software == "shib" and rnd.random() < 0.6:
        d.leaf("idpdisc:DiscoveryResponse", None, ("xmlns:idpdisc", NS_IDPDISC),
               ("Binding", NS_IDPDISC), ("Location", m.url("/Shibboleth.sso/Login")), ("index", "1"))
        if rnd.random() < 0.3:
            d.leaf("init:RequestInitiator", None, ("xmlns:init", NS_INIT), ("Binding", NS_INIT),
                   ("Location", m.url("/Shibboleth.sso/Login")))
    if rnd.random() < 0.1:
        d.leaf("alg:DigestMethod", None, ("xmlns:alg", NS_ALG),
               ("Algorithm", "http://www.w3.org/2001/04/xmlenc#sha256"))
        d.leaf("alg:SigningMethod", None, ("xmlns:alg", NS_ALG),
               ("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"), ("MinKeySize", "2048"))
    ui_info(d, m)
    d.close("md:Extensions")
    key_descriptors(d, m)
    if m.software == "shib":
        slo = [("HTTP-Redirect", "Redirect"), ("HTTP-POST", "POST"), ("SOAP", "SOAP")]
        slo = slo[:rnd.choice([0, 1, 1, 1, 2, 3])]
        for b, p in slo:
            d.leaf("md:SingleLogoutService", None, ("Binding", BIND + b),
                   ("Location", m.url("/Shibboleth.sso/SLO/%s" % p)))
        acs = [(BIND + "HTTP-POST", "SAML2/POST"), (BIND + "HTTP-POST-SimpleSign", "SAML2/POST-SimpleSign"),
               (BIND + "HTTP-Artifact", "SAML2/Artifact"), (BIND + "PAOS", "SAML2/ECP")]
        acs = acs[:rnd.choice([1, 1, 2, 3, 4])]
        if SAML11 in attrs[0][1]:
            acs.append(("urn:oasis:names:tc:SAML:1.0:profiles:browser-post", "SAML/POST"))
        acs = [(b, m.url("/Shibboleth.sso/" + p)) for b, p in acs]
    elif m.software == "ssp":
        d.leaf("md:SingleLogoutService", None, ("Binding", BIND + "HTTP-Redirect"),
               ("Location", m.url("/simplesaml/module.php/saml/sp/saml2-logout.php/default-sp")))
        acs = [(BIND + "HTTP-POST", m.url("/simplesaml/module.php/saml/sp/saml2-acs.php/default-sp"))]
        if rnd.random() < 0.5:
            acs.append((BIND + "HTTP-Artifact", acs[0][1]))
    else:
        if rnd.random() < 0.4:
            d.leaf("md:SingleLogoutService", None, ("Binding", BIND + "HTTP-Redirect"),
                   ("Location", m.url("/saml2/sls")))
        if rnd.random() < 0.5:
            d.leaf("md:NameIDFormat", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")
        acs = [(BIND + "HTTP-POST", m.url("/saml2/acs"))]
        if rnd.random() < 0.3:
            acs.append((BIND + "HTTP-Redirect", m.url("/saml2/acs")))
    for n, (b, loc) in enumerate(acs):
        d.leaf("md:AssertionConsumerService", None, ("Binding", b), ("Location", loc),
               ("index", str(n + 1 if m.software != "ssp" else n)),
               ("isDefault", "true") if n == 0 and rnd.random() < 0.5 else (None, None))
    if rnd.random() < 0.5:
        d.open("md:AttributeConsumingService", ("index", "1"))
        for l in m.langs[:2 if rnd.random() < 0.3 else 1]:
            d.leaf("md:ServiceName", "%s – %s" % (m.service[0], m.org[l]), lang_attr(l))
        if rnd.random() < 0.5:
            d.leaf("md:ServiceDescription", m.service[1], lang_attr("en"))
        chosen = sorted(rnd.sample(range(len(REQUESTED)), rnd.randint(1, 4)))
        for j in chosen:
            friendly, name = REQUESTED[j]
            d.leaf("md:RequestedAttribute", None, ("FriendlyName", friendly), ("Name", name),
                   ("NameFormat", URI_FMT), ("isRequired", "true") if rnd.random() < 0.4 else (None, None))
        d.close("md:AttributeConsumingService")
    d.close("md:SPSSODescriptor")


def organization(d, m):
    d.open("md:Organization")
    langs = m.langs[:2] if m.rnd.random() < 0.3 else m.langs[:1]
    for l in langs:
        d.leaf("md:OrganizationName", m.org[l], lang_attr(l))
    for l in langs:
        d.leaf("md:OrganizationDisplayName", m.org[l], lang_attr(l))
    d.leaf("md:OrganizationURL", "https://www.%s/" % m.domain, lang_attr("en"))
    d.close("md:Organization")


def contacts(d, m):
    rnd = m.rnd
    kinds = ["technical"]
    if rnd.random() < 0.3:
        kinds.append("support")
    if rnd.random() < 0.1:
        kinds.append("administrative")
    if m.sirtfi or rnd.random() < 0.05:
        kinds.append("security")
    for kind in kinds:
        if kind == "security":
            d.open("md:ContactPerson", ("xmlns:remd", NS_REMD), ("contactType", "other"),
                   ("remd:contactType", "http://refeds.org/metadata/contactType/security"))
            d.leaf("md:GivenName", "Security Response Team")
            d.leaf("md:EmailAddress", "mailto:cert@%s" % m.domain)
        else:
            d.open("md:ContactPerson", ("contactType", kind))
            if kind == "support" and rnd.random() < 0.5:
                d.leaf("md:GivenName", "IT Service Desk")
            elif rnd.random() < 0.5:
                d.leaf("md:GivenName", rnd.choice(GIVEN))
            else:
                d.leaf("md:GivenName", rnd.choice(GIVEN))
                d.leaf("md:SurName", rnd.choice(SURNAMES))
            d.leaf("md:EmailAddress", "mailto:%s@%s" % ({"technical": "sso-admin", "support": "helpdesk",
                                                          "administrative": "it-director"}[kind], m.domain))
            if rnd.random() < 0.05:
                d.leaf("md:TelephoneNumber", "+%d %d %07d" % (rnd.randint(1, 99), rnd.randint(10, 99),
                                                              rnd.randint(0, 9999999)))
        d.close("md:ContactPerson")


def entity(m):
    rnd = m.rnd
    prefixed = rnd.random() < 0.7
    d = Doc("md:" if prefixed else "", "  " if m.authority in PRETTY else "", depth=1)
    d.open("md:EntityDescriptor", ("xmlns:md" if prefixed else "xmlns", NS_MD), ("entityID", entity_id(m)))
    if rnd.random() < 0.05:
        d.raw("<!-- %s: registered by %s -->" % (m.domain, m.authority))
    d.open("md:Extensions")
    registration(d, m)
    entity_attributes(d, m)
    d.close("md:Extensions")
    if m.idp:
        idp_role(d, m)
    else:
        sp_role(d, m)
    organization(d, m)
    contacts(d, m)
    d.close("md:EntityDescriptor")
    return d.text()


def generate(n, out, seed, pool):
    rnd = random.Random(seed)
    weights = [f[2] for f in FEDERATIONS]
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        f.write('<md:EntitiesDescriptor xmlns:md="%s" xmlns:ds="%s" Name="urn:example:fedsign:test-aggregate" '
                'ID="_fedsign-aggregate-%d">\n' % (NS_MD, NS_DS, seed))
        f.write('  <md:Extensions>\n    <mdrpi:PublicationInfo xmlns:mdrpi="%s" '
                'creationInstant="2026-01-01T00:00:00Z" publisher="https://aggregate.example.org/" '
                'publicationId="fedsign-test-%d-%d"/>\n  </md:Extensions>\n' % (NS_MDRPI, seed, n))
        for i in range(n):
            f.write(entity(Member(i, rnd, pool, FEDERATIONS, weights)))
            f.write("\n")
        f.write("</md:EntitiesDescriptor>\n")


def main():
    ap = argparse.ArgumentParser(prog="gen-aggregate.py", description=__doc__.split("\n\n")[0],
                                 usage="%(prog)s N OUT.xml [--seed S] [--certs DIR]")
    ap.add_argument("n", type=int, metavar="N", help="number of entities")
    ap.add_argument("out", metavar="OUT.xml", help="output file")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--certs", metavar="DIR",
                    default=os.path.join(tempfile.gettempdir(), "fedsign-gen-aggregate-certs"),
                    help="certificate pool folder, made when missing")
    a = ap.parse_args()
    if a.n < 1:
        ap.error("N must be at least 1")
    generate(a.n, a.out, a.seed, cert_pool(a.certs))


if __name__ == "__main__":
    main()
