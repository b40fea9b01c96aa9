<?xml version="1.0" encoding="UTF-8"?>
<!--
  Split an aggregate into one file per md:EntityDescriptor, as a
  federation's registry keeps its members:

    xsltproc -\-stringparam dir OUTDIR tests/tools/split-entities.xsl AGG.xml

  writes OUTDIR/entity-00001.xml ... (the folder must exist).  Each file
  holds a copy of the entity with every namespace in scope declared.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:exsl="http://exslt.org/common"
    extension-element-prefixes="exsl">
  <xsl:param name="dir" select="'.'"/>
  <xsl:template match="/">
    <xsl:for-each select="//md:EntityDescriptor">
      <exsl:document href="{$dir}/entity-{format-number(position(), '00000')}.xml"
          method="xml" encoding="UTF-8">
        <xsl:copy-of select="."/>
      </exsl:document>
    </xsl:for-each>
  </xsl:template>
</xsl:stylesheet>
