<?xml version="1.0" encoding="UTF-8"?>
<!--

    check_mdui.xsl

    Checks the user-interface information (SAML V2.0 Metadata Extensions
    for Login and Discovery User Interface, namespace
    urn:oasis:names:tc:SAML:metadata:ui) that discovery services show.

    [WARN] an md:IDPSSODescriptor without
           md:Extensions/mdui:UIInfo/mdui:DisplayName: discovery services
           fall back to the organisation name or the entityID, and users
           cannot find their home organisation.
    [WARN] an mdui:DisplayName, mdui:Description, mdui:Keywords,
           mdui:InformationURL or mdui:PrivacyStatementURL without an
           xml:lang attribute.  The schema requires it on these (they are
           chosen by language); mdui:Logo may go without one (a logo for
           every language) and is not reported.

-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui">

    <!-- The message templates and the default walk. -->
    <xsl:import href="check_framework.xsl"/>

    <xsl:template match="md:IDPSSODescriptor[not(md:Extensions/mdui:UIInfo/mdui:DisplayName)]">
        <xsl:call-template name="warning">
            <xsl:with-param name="m">IdP has no mdui:UIInfo/mdui:DisplayName</xsl:with-param>
        </xsl:call-template>
        <!-- go on into the role: its other mdui elements are checked too -->
        <xsl:apply-templates select="node()|@*"/>
    </xsl:template>

    <xsl:template match="
        mdui:DisplayName[not(@xml:lang)] |
        mdui:Description[not(@xml:lang)] |
        mdui:Keywords[not(@xml:lang)] |
        mdui:InformationURL[not(@xml:lang)] |
        mdui:PrivacyStatementURL[not(@xml:lang)]">
        <xsl:call-template name="warning">
            <xsl:with-param name="m">
                <xsl:text>mdui:</xsl:text>
                <xsl:value-of select="local-name()"/>
                <xsl:text> '</xsl:text>
                <xsl:value-of select="substring(normalize-space(.), 1, 80)"/>
                <xsl:text>' has no xml:lang</xsl:text>
            </xsl:with-param>
        </xsl:call-template>
    </xsl:template>

</xsl:stylesheet>
