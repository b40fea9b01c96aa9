<?xml version="1.0" encoding="UTF-8"?>
<!--

    check_https_sso.xsl

    Checks that the endpoints of the single sign-on profiles are protected
    by TLS.

    [ERROR] a Location or ResponseLocation that does not start with https://
            on one of these endpoints:
                md:IDPSSODescriptor/md:SingleSignOnService
                md:SPSSODescriptor/md:AssertionConsumerService
                md:IDPSSODescriptor/md:SingleLogoutService
                md:SPSSODescriptor/md:SingleLogoutService
                md:IDPSSODescriptor/md:ArtifactResolutionService
                md:SPSSODescriptor/md:ArtifactResolutionService
            The message names the role, the element, the attribute and its
            value.  An endpoint without the attribute is not reported here
            (the schema check reports a missing Location).

    An assertion or a logout message sent to a plain http:// endpoint can be
    read and replayed by anyone on the path.  The test is on the exact
    lower-case prefix "https://", as most federations' rules have it.

-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">

    <!-- The message templates and the default walk. -->
    <xsl:import href="check_framework.xsl"/>

    <!--
        The default walk visits attributes too, so the rule matches the
        attribute itself: its parent is the endpoint, and the endpoint's
        parent the role.
    -->
    <xsl:template match="
        md:IDPSSODescriptor/md:SingleSignOnService/@Location |
        md:IDPSSODescriptor/md:SingleSignOnService/@ResponseLocation |
        md:SPSSODescriptor/md:AssertionConsumerService/@Location |
        md:SPSSODescriptor/md:AssertionConsumerService/@ResponseLocation |
        md:IDPSSODescriptor/md:SingleLogoutService/@Location |
        md:IDPSSODescriptor/md:SingleLogoutService/@ResponseLocation |
        md:SPSSODescriptor/md:SingleLogoutService/@Location |
        md:SPSSODescriptor/md:SingleLogoutService/@ResponseLocation |
        md:IDPSSODescriptor/md:ArtifactResolutionService/@Location |
        md:IDPSSODescriptor/md:ArtifactResolutionService/@ResponseLocation |
        md:SPSSODescriptor/md:ArtifactResolutionService/@Location |
        md:SPSSODescriptor/md:ArtifactResolutionService/@ResponseLocation">
        <xsl:if test="not(starts-with(., 'https://'))">
            <xsl:call-template name="error">
                <xsl:with-param name="m">
                    <xsl:value-of select="local-name(../..)"/>
                    <xsl:text>/</xsl:text>
                    <xsl:value-of select="local-name(..)"/>
                    <xsl:text> </xsl:text>
                    <xsl:value-of select="local-name()"/>
                    <xsl:text> '</xsl:text>
                    <!-- one message, one line: no line breaks from the input -->
                    <xsl:value-of select="translate(., '&#9;&#10;&#13;', '???')"/>
                    <xsl:text>' does not start with https://</xsl:text>
                </xsl:with-param>
            </xsl:call-template>
        </xsl:if>
    </xsl:template>

</xsl:stylesheet>
