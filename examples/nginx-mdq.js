// nginx-mdq.js: the one thing nginx cannot do by configuration alone for
// an MDQ tree (examples/nginx-mdq.conf): turn the entityID of a request
// into the name of its file, entities/{sha1}HEX.  njs (Debian package
// libnginx-mod-http-js).
//
// It reads $request_uri, the request target exactly as it was sent, not
// $uri, which nginx has already decoded and normalised ("//" merged, ".."
// resolved): an entityID would not survive that.  The entityID is what
// follows "/entities/", percent-decoded once: %3A and %3a alike, ':' and
// '/' encoded or not, and '+' is a plus (decodeURIComponent is not
// form-decoding).  It is hashed as UTF-8.
//
// mdq.hex gives the 40 lowercase hex digits of the file's name, or ""
// for a request that fedsign serve answers 400: a '%' without two hex
// digits, bytes that are not UTF-8, a control character (%00 ...), or
// "{sha1}" not followed by exactly 40 hex digits.

import crypto from 'crypto';

function hex(r) {
    var raw = r.variables.request_uri;
    var q = raw.indexOf('?');
    var path, id, m;

    if (q >= 0)
        raw = raw.substring(0, q);
    path = raw.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\/]*/, '');
    if (path.substring(0, 10) !== '/entities/')
        return '';
    try {
        id = decodeURIComponent(path.substring(10));
    } catch (e) {
        return '';
    }
    if (id.length === 0 || /[\u0000-\u001f\u007f]/.test(id))
        return '';
    if (id.substring(0, 6).toLowerCase() === '{sha1}') {
        m = id.substring(6);
        return /^[0-9a-fA-F]{40}$/.test(m) ? m.toLowerCase() : '';
    }
    return crypto.createHash('sha1').update(id).digest('hex');
}

export default { hex };
