<?xml version="1.0" encoding="UTF-8"?>
<!--

    check_scope.xsl

    Checks shibmd:Scope elements (namespace urn:mace:shibboleth:metadata:1.0),
    which say for which scopes (the part after the @ of eduPersonPrincipalName
    and other scoped attributes) an IdP may assert values.

    [ERROR] a literal scope (regexp="false", "0" or no regexp attribute)
            that is empty or holds anything but ASCII letters, digits, '.'
            and '-': a wildcard such as "*.example.ac.za", a space, a line
            break, an '@' or a Unicode domain name (write its punycode
            A-label instead).  Such a scope never matches what the IdP
            sends, or matches something it should not.
    [WARN]  a regular-expression scope (regexp="true" or "1") that does not
            start with ^ and end with $.  An unanchored expression matches
            inside longer values: "example\.ac\.za" also lets the IdP assert
            user@example.ac.za.attacker.example.

-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:shibmd="urn:mace:shibboleth:metadata:1.0">

    <!-- The message templates and the default walk. -->
    <xsl:import href="check_framework.xsl"/>

    <xsl:variable name="scope-chars"
        select="'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-'"/>

    <xsl:template match="shibmd:Scope">
        <!-- the value as it can be shown on one line -->
        <xsl:variable name="shown" select="translate(., '&#9;&#10;&#13;', '???')"/>
        <xsl:choose>
            <!-- xs:boolean: "true" or "1", surrounding white space allowed -->
            <xsl:when test="normalize-space(@regexp) = 'true' or normalize-space(@regexp) = '1'">
                <xsl:if test="not(starts-with(., '^')) or substring(., string-length(.)) != '$'">
                    <xsl:call-template name="warning">
                        <xsl:with-param name="m">
                            <xsl:text>regexp Scope '</xsl:text>
                            <xsl:value-of select="$shown"/>
                            <xsl:text>' is not anchored with ^...$</xsl:text>
                        </xsl:with-param>
                    </xsl:call-template>
                </xsl:if>
            </xsl:when>
            <xsl:when test=". = ''">
                <xsl:call-template name="error">
                    <xsl:with-param name="m">Scope is empty</xsl:with-param>
                </xsl:call-template>
            </xsl:when>
            <xsl:when test="translate(., $scope-chars, '') != ''">
                <xsl:call-template name="error">
                    <xsl:with-param name="m">
                        <xsl:text>Scope '</xsl:text>
                        <xsl:value-of select="$shown"/>
                        <xsl:text>' has characters other than letters, digits, '.' and '-'</xsl:text>
                    </xsl:with-param>
                </xsl:call-template>
            </xsl:when>
        </xsl:choose>
    </xsl:template>

</xsl:stylesheet>
