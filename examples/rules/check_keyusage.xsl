<?xml version="1.0" encoding="UTF-8"?>
<!--

    check_keyusage.xsl

    Checks what md:KeyDescriptor elements say their keys are for.

    [ERROR] an md:KeyDescriptor whose use attribute is anything but
            "signing" or "encryption" (a typo such as use="sign", a
            capital, a space, an empty value).  Software that does not know
            the value may take the key for both uses, or for neither.
    [WARN]  an md:IDPSSODescriptor with no md:KeyDescriptor usable for
            signing: none without a use attribute and none with
            use="signing".  Service providers cannot verify the IdP's
            assertions or responses.

-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">

    <!-- The message templates and the default walk. -->
    <xsl:import href="check_framework.xsl"/>

    <xsl:template match="md:KeyDescriptor[@use][@use != 'signing'][@use != 'encryption']">
        <xsl:call-template name="error">
            <xsl:with-param name="m">
                <xsl:text>KeyDescriptor in </xsl:text>
                <xsl:value-of select="local-name(..)"/>
                <xsl:text> has use='</xsl:text>
                <!-- one message, one line: no line breaks from the input -->
                <xsl:value-of select="translate(@use, '&#9;&#10;&#13;', '???')"/>
                <xsl:text>': it must be signing or encryption</xsl:text>
            </xsl:with-param>
        </xsl:call-template>
    </xsl:template>

    <xsl:template match="md:IDPSSODescriptor[not(md:KeyDescriptor[not(@use) or @use = 'signing'])]">
        <xsl:call-template name="warning">
            <xsl:with-param name="m">IdP has no KeyDescriptor usable for signing (without use, or with use="signing")</xsl:with-param>
        </xsl:call-template>
        <!-- go on into the role: its KeyDescriptors are checked too -->
        <xsl:apply-templates select="node()|@*"/>
    </xsl:template>

</xsl:stylesheet>
