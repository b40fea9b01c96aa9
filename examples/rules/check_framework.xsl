<?xml version="1.0" encoding="UTF-8"?>
<!--

    check_framework.xsl

    The framework every fedsign rule file imports with
        <xsl:import href="check_framework.xsl"/>

    It does not check anything by itself.  It gives rule files:

    - three named templates, each taking the message in the parameter m:
          error    reports "[ERROR] " + m
          warning  reports "[WARN] "  + m
          info     reports "[INFO] "  + m
      Each reports with <xsl:message terminate="no">, so one finding never
      stops the others.  Inside an md:EntitiesDescriptor the message names
      the entity it is about, between the level and the text: the
      md:EntityDescriptor's ID when it has one, else its entityID, then ": ".

          [ERROR] https://idp.example.ac.za/idp/shibboleth: entity has no ...

    - default templates that walk every element (and its attributes), and
      discard text, comments and attributes, so a rule file only has to
      match what it checks.  A template in a rule file that matches an
      element stops the walk there unless it applies templates itself.

    The output method is text and nothing is written to it: the findings
    are the xsl:message lines (xsltproc prints them on standard error).

    The named templates, the message format and the default templates
    behave like the UK federation's ukf-meta mdx/_rules/check_framework.xsl,
    so rule files written for that framework run unchanged against this one.

-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:fsr="urn:fedsign:rules"
    exclude-result-prefixes="md fsr">

    <xsl:output method="text"/>


    <!-- Report an error found on the current node. -->
    <xsl:template name="error">
        <xsl:param name="m"/>
        <xsl:call-template name="fsr:report">
            <xsl:with-param name="level">[ERROR] </xsl:with-param>
            <xsl:with-param name="m" select="$m"/>
        </xsl:call-template>
    </xsl:template>


    <!-- Report a warning about the current node. -->
    <xsl:template name="warning">
        <xsl:param name="m"/>
        <xsl:call-template name="fsr:report">
            <xsl:with-param name="level">[WARN] </xsl:with-param>
            <xsl:with-param name="m" select="$m"/>
        </xsl:call-template>
    </xsl:template>


    <!-- Report something worth knowing about the current node. -->
    <xsl:template name="info">
        <xsl:param name="m"/>
        <xsl:call-template name="fsr:report">
            <xsl:with-param name="level">[INFO] </xsl:with-param>
            <xsl:with-param name="m" select="$m"/>
        </xsl:call-template>
    </xsl:template>


    <!--
        The one place a message is made.  Its name is in a namespace of its
        own so that it cannot clash with a template a rule file names.
    -->
    <xsl:template name="fsr:report">
        <xsl:param name="level"/>
        <xsl:param name="m"/>
        <xsl:variable name="entity" select="ancestor-or-self::md:EntityDescriptor"/>
        <xsl:message terminate="no">
            <xsl:value-of select="$level"/>
            <!-- In an aggregate, say which entity the message is about. -->
            <xsl:if test="ancestor-or-self::md:EntitiesDescriptor">
                <xsl:choose>
                    <xsl:when test="$entity/@ID">
                        <xsl:value-of select="$entity/@ID"/>
                    </xsl:when>
                    <xsl:otherwise>
                        <xsl:value-of select="$entity/@entityID"/>
                    </xsl:otherwise>
                </xsl:choose>
                <xsl:text>: </xsl:text>
            </xsl:if>
            <xsl:value-of select="$m"/>
        </xsl:message>
    </xsl:template>


    <!-- By default, walk down through every element and its attributes. -->
    <xsl:template match="*">
        <xsl:apply-templates select="node()|@*"/>
    </xsl:template>


    <!-- By default, text, comments and attributes say nothing. -->
    <xsl:template match="text()|comment()|@*"/>

</xsl:stylesheet>
