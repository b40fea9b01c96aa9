<?xml version="1.0" encoding="UTF-8"?>
<!--

    check_contacts.xsl

    Checks that every entity has someone to call when it breaks.

    [ERROR] an md:EntityDescriptor with no md:ContactPerson child whose
            contactType is "technical" or "support".

    Only the entity's own md:ContactPerson elements count, not those inside
    a role descriptor: those are the ones discovery services, federation
    registries and eduGAIN's technical site read.  Administrative, billing
    and other contacts, and REFEDS security contacts (contactType "other"),
    do not satisfy the rule.

-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">

    <!-- The message templates and the default walk. -->
    <xsl:import href="check_framework.xsl"/>

    <xsl:template match="md:EntityDescriptor
        [not(md:ContactPerson[@contactType = 'technical' or @contactType = 'support'])]">
        <xsl:call-template name="error">
            <xsl:with-param name="m">entity has no md:ContactPerson of contactType technical or support</xsl:with-param>
        </xsl:call-template>
    </xsl:template>

</xsl:stylesheet>
