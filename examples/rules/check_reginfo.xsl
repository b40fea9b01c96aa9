<?xml version="1.0" encoding="UTF-8"?>
<!--

    check_reginfo.xsl

    Checks that every entity says which federation registered it.

    [ERROR] an md:EntityDescriptor with no md:Extensions/mdrpi:RegistrationInfo.

    Without mdrpi:RegistrationInfo a consumer of an inter-federation feed
    (eduGAIN) cannot tell which federation vouches for the entity, and
    filters by registration authority drop it.  fedsign adds the element to
    a local source's entities when the source sets registration-authority;
    this rule catches the ones still without it.

-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:mdrpi="urn:oasis:names:tc:SAML:metadata:rpi">

    <!-- The message templates and the default walk. -->
    <xsl:import href="check_framework.xsl"/>

    <xsl:template match="md:EntityDescriptor[not(md:Extensions/mdrpi:RegistrationInfo)]">
        <xsl:call-template name="error">
            <xsl:with-param name="m">entity has no mdrpi:RegistrationInfo in its md:Extensions</xsl:with-param>
        </xsl:call-template>
    </xsl:template>

</xsl:stylesheet>
