<?xml version="1.0" encoding="UTF-8"?>
<!--

    check_rsa_keysize.xsl

    Checks that no RSA key in the metadata is too short to be trusted.

    [ERROR] an RSA certificate (ds:X509Certificate inside an md:KeyDescriptor)
            whose public key has fewer than 2048 bits:
                "key of N bits; at least 2048 are required"
    [WARN]  "key sizes not checked: run under fedsign", once per entity,
            when the stylesheet runs where the fedsign extension function is
            not there (plain xsltproc): nothing is checked then.

    The key size comes from fedsign's XSLT extension function
        fedsign:key-bits(string)        namespace urn:fedsign:xslt
    which takes the base64 text of a certificate and returns the size of
    its public key in bits as a number, or 0 when it cannot read it (fedsign
    also returns 0 for a key that is not RSA).  fedsign registers it when
    it runs the rules (fedsign publish).  A certificate it cannot read is
    not reported here.

    The rule does not rely on the function to tell RSA from other keys: a
    certificate holds an RSA key when its DER holds the AlgorithmIdentifier
    of rsaEncryption,
        30 0D 06 09 2A 86 48 86 F7 0D 01 01 01 05 00
    which only the subjectPublicKeyInfo carries (RSA signature algorithms
    are other OIDs).  That byte string has one of three base64 spellings,
    once white space is removed, according to where it falls in a 3-byte
    group.  So EC and EdDSA keys, whose sizes (256, 384...) are not to be
    measured against 2048, are never reported.  RSA-PSS keys
    (id-RSASSA-PSS, rare in metadata) are not recognised.

-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#"
    xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:fedsign="urn:fedsign:xslt"
    exclude-result-prefixes="fedsign">

    <!-- The message templates and the default walk. -->
    <xsl:import href="check_framework.xsl"/>

    <!--
        Without the extension function, say so once per entity and do not
        go into it; with it, walk on into the entity as usual.
    -->
    <xsl:template match="md:EntityDescriptor">
        <xsl:choose>
            <xsl:when test="function-available('fedsign:key-bits')">
                <xsl:apply-templates select="node()|@*"/>
            </xsl:when>
            <xsl:otherwise>
                <xsl:call-template name="warning">
                    <xsl:with-param name="m">key sizes not checked: run under fedsign</xsl:with-param>
                </xsl:call-template>
            </xsl:otherwise>
        </xsl:choose>
    </xsl:template>

    <xsl:template match="md:KeyDescriptor//ds:X509Certificate">
        <!-- the guard again: fedsign:key-bits is never called without it -->
        <xsl:if test="function-available('fedsign:key-bits')">
            <xsl:variable name="b64" select="translate(., ' &#9;&#10;&#13;', '')"/>
            <xsl:variable name="bits" select="fedsign:key-bits($b64)"/>
            <xsl:if test="$bits &gt; 0 and $bits &lt; 2048
                          and (contains($b64, 'MA0GCSqGSIb3DQEBAQUA')
                               or contains($b64, 'ANBgkqhkiG9w0BAQEFA')
                               or contains($b64, 'wDQYJKoZIhvcNAQEBBQ'))">
                <xsl:call-template name="error">
                    <xsl:with-param name="m">
                        <xsl:text>key of </xsl:text>
                        <xsl:value-of select="$bits"/>
                        <xsl:text> bits; at least 2048 are required</xsl:text>
                    </xsl:with-param>
                </xsl:call-template>
            </xsl:if>
        </xsl:if>
    </xsl:template>

</xsl:stylesheet>
