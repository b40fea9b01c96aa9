<?xml version="1.0" encoding="UTF-8"?>
<!--

    check_entityid.xsl

    Checks the form of every entity's entityID.

    [WARN]  an entityID that is neither an https:// URL nor a URN (starting
            "urn:", in any case).  http:// entityIDs and bare host names
            work, but are the usual sign of a copied example or a test
            deployment, and https:// lets the entityID be a place its
            metadata can be fetched from.
    [ERROR] an entityID longer than 1024 characters, the limit SAML 2.0
            Core (section 8.3.6) sets.  Software that keeps to the limit
            (in databases, in session caches) refuses or truncates it.

-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">

    <!-- The message templates and the default walk. -->
    <xsl:import href="check_framework.xsl"/>

    <!-- The default walk visits attributes too: match the entityID itself. -->
    <xsl:template match="md:EntityDescriptor/@entityID">
        <xsl:if test="not(starts-with(., 'https://'))
                      and translate(substring(., 1, 4), 'URN', 'urn') != 'urn:'">
            <xsl:call-template name="warning">
                <xsl:with-param name="m">
                    <xsl:text>entityID '</xsl:text>
                    <!-- one message, one line: no line breaks from the input -->
                    <xsl:value-of select="translate(substring(., 1, 200), '&#9;&#10;&#13;', '???')"/>
                    <xsl:text>' is neither an https:// URL nor a urn:</xsl:text>
                </xsl:with-param>
            </xsl:call-template>
        </xsl:if>
        <xsl:if test="string-length(.) &gt; 1024">
            <xsl:call-template name="error">
                <xsl:with-param name="m">
                    <xsl:text>entityID is </xsl:text>
                    <xsl:value-of select="string-length(.)"/>
                    <xsl:text> characters long; at most 1024 are allowed</xsl:text>
                </xsl:with-param>
            </xsl:call-template>
        </xsl:if>
    </xsl:template>

</xsl:stylesheet>
